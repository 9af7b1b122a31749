"""`up --instances N`: N processes of every service, each with its own health port and
instance name; only the first submitter serves the public API port."""

from __future__ import annotations

import socket
from pathlib import Path

from comfy_recovery.stack import Stack, StackConfig


def test_units_name_each_process_and_give_it_its_own_health_port(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path, services=("submitter", "recovery"), instances=2)
    units = config.units()
    assert [u.key for u in units] == ["submitter", "recovery", "submitter-2", "recovery-2"]
    assert [u.port_index for u in units] == [0, 1, 2, 3]
    assert {u.service for u in units} == {"submitter", "recovery"}
    assert [u.key for u in StackConfig(data_dir=tmp_path).units()] == list(StackConfig.services)


def test_every_instance_gets_its_name_and_port_and_one_submitter_the_api(tmp_path: Path) -> None:
    config = StackConfig(
        data_dir=tmp_path,
        services=("submitter", "recovery"),
        instances=2,
        health_base_port=20_000,
        extra_env={"CR_SUBMITTER_API_PORT": "8181"},
    )
    stack = Stack(config, echo=False)
    first, recovery, second, _ = (stack.env(u) for u in config.units())
    host = socket.gethostname()
    assert first["CR_SUBMITTER_INSTANCE"] == f"{host}-1"
    assert second["CR_SUBMITTER_INSTANCE"] == f"{host}-2"
    assert first["CR_SUBMITTER_HEALTH_PORT"] == "20000"
    assert second["CR_SUBMITTER_HEALTH_PORT"] == "20002"
    assert recovery["CR_RECOVERY_HEALTH_PORT"] == "20001"
    assert first["CR_SUBMITTER_API_PORT"] == "8181" and "CR_SUBMITTER_API_PORT" not in second
    health = stack.describe()["health"]
    assert isinstance(health, dict) and health["recovery-2"] == "http://127.0.0.1:20003"


def test_one_instance_keeps_the_hosts_own_instance_name(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path, services=("classifier",))
    env = Stack(config, echo=False).env(config.units()[0])
    assert "CR_CLASSIFIER_INSTANCE" not in env  # <host>-<pid>, as before


def test_analytics_on_embedded_chdb_runs_once_and_on_a_server_runs_n_times(tmp_path: Path) -> None:
    services = ("classifier", "analytics")
    embedded = StackConfig(data_dir=tmp_path, services=services, instances=2)
    assert [u.key for u in embedded.units()] == ["classifier", "analytics", "classifier-2"]
    server = StackConfig(
        data_dir=tmp_path,
        services=services,
        instances=2,
        extra_env={"CR_ANALYTICS_INTERFACE": "http"},
    )
    assert [u.key for u in server.units()][-1] == "analytics-2"


def test_the_monitor_runs_once_its_websockets_cannot_be_shared(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path, services=("monitor", "recovery"), instances=3)
    assert [u.key for u in config.units()] == ["monitor", "recovery", "recovery-2", "recovery-3"]
