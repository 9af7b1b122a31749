"""The stack's supervision on real tiny children (`fakeprocs`): a service that exits is
restarted, one stopped stays stopped until started, a killed one comes back, a dead
simulator is reported, a dead nats-server is restarted on its port, and `stop()` ends
everything. The delays waited are the supervisor's own (half a second per restart)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from comfy_recovery import stackfile
from comfy_recovery.natsd import free_port, free_port_block
from comfy_recovery.stack import Stack, StackConfig, StackRunningError
from libs.cli.tests.fakeprocs import FAKE_NATS, fakes
from tests.support.system import wait_for

__all__ = ["fakes"]  # the fixture


def config(data: Path, **overrides: object) -> StackConfig:
    settings: dict[str, object] = {
        "data_dir": data,
        "nats_url": FAKE_NATS,
        "simulator_module": "crsim",
        "simulator_backends": 1,
        "services": ("crsvc",),
        "health_base_port": free_port_block(2),
    }
    settings.update(overrides)
    return StackConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def stack(fakes: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    (fakes / "crash-once").touch()
    stack = Stack(config(tmp_path / "data"), echo=False, log_file=tmp_path / "data" / "up.log")
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


def log_of(stack: Stack) -> str:
    return (stack.config.data_dir / "up.log").read_text()


async def running(stack: Stack, name: str, restarts: int = 0) -> bool:
    proc = stack.procs.get(name)
    alive = proc is not None and proc.returncode is None
    return alive and stack.restarts.get(name, 0) == restarts and name in stack.children()


async def test_a_service_that_exits_is_restarted_and_its_output_is_logged(stack: Stack) -> None:
    async def restarted() -> bool:
        return await running(stack, "crsvc", restarts=1)

    await wait_for(restarted, timeout=60, every=0.05)
    assert stack.comfyui_urls == "sim-0=http://127.0.0.1:9/0"
    described = stackfile.read(stack.config.data_dir)
    assert described is not None and described["nats_url"] == FAKE_NATS
    assert set(described["children"]) == {"crsvc", "simulator"}
    port = stack.config.health_base_port
    assert described["health"] == {"crsvc": f"http://127.0.0.1:{port}"}
    log = log_of(stack)
    assert "crsvc exited with 3; restarting" in log
    assert f"crsvc     | listening on {port}" in log  # padded to "simulator"
    assert "[stack] ComfyUI simulator: sim-0=http://127.0.0.1:9/0" in log


async def test_a_stopped_service_stays_stopped_until_started_and_a_killed_one_returns(
    stack: Stack,
) -> None:
    async def up(restarts: int) -> bool:
        return await running(stack, "crsvc", restarts)

    await wait_for(lambda: up(1), timeout=60, every=0.05)
    first = stack.procs["crsvc"]
    await stack.stop_service("crsvc")
    assert first.returncode == -signal.SIGTERM
    assert "crsvc" not in stack.children()
    stack.start_service("crsvc")
    await wait_for(lambda: up(1), timeout=60, every=0.05)
    assert stack.procs["crsvc"] is not first  # started again, not counted as a restart
    await stack.kill("crsvc")
    await wait_for(lambda: up(2), timeout=60, every=0.05)
    assert "crsvc exited with -9; restarting" in log_of(stack)


async def test_a_simulator_that_dies_is_reported_and_stop_ends_everything(stack: Stack) -> None:
    assert stack.simulator is not None
    os.killpg(stack.simulator.pid, signal.SIGKILL)

    async def reported() -> bool:
        return "the simulator exited with -9" in log_of(stack)

    await wait_for(reported, timeout=60, every=0.05)
    procs = list(stack.procs.values())
    await stack.stop()
    assert all(p.returncode is not None for p in procs)
    assert stack.children() == {}
    assert stackfile.read(stack.config.data_dir) is None
    assert log_of(stack).endswith("[stack] stopped\n")
    await stack.stop()  # twice is harmless


async def test_a_dead_local_nats_server_is_restarted_on_its_port(
    fakes: Path, tmp_path: Path
) -> None:
    port = free_port()
    cfg = config(tmp_path, nats_url=None, nats_port=port, comfyui_urls="b0=http://x", services=())
    stack = Stack(cfg, echo=False, log_file=tmp_path / "up.log")
    await stack.start()
    try:
        assert stack.nats is not None and stack.nats_url == f"nats://127.0.0.1:{port}"
        pid = stack.children()["nats-server"]
        os.kill(pid, signal.SIGKILL)

        async def restarted() -> bool:
            return stack.restarts.get("nats-server") == 1 and "nats-server" in stack.children()

        await wait_for(restarted, timeout=60, every=0.05)
        assert stack.children()["nats-server"] != pid
        described = stackfile.read(tmp_path)
        assert described is not None and described["children"] == stack.children()
    finally:
        await stack.stop()
    log = (tmp_path / "up.log").read_text()
    assert "nats-server exited with -9; restarting on the same store" in log
    assert f"nats-server restarted at nats://127.0.0.1:{port}" in log
    assert stack.children() == {}


async def test_a_local_cluster_tells_the_services_to_replicate(fakes: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path, nats_url=None, nats_port=free_port(), nats_cluster=3)
    stack = Stack(cfg, echo=False, log_file=tmp_path / "up.log")
    await stack.start()
    try:
        assert stack.local_nats is not None and stack.local_nats.cluster is not None
        assert stack.local_nats.cluster.stream_leader("EVENTS") is None  # no streams here
        assert stack.nats_url.count(",") == 2
        assert stack.env(cfg.units()[0])["CR_NATS_REPLICAS"] == "3"
        nodes = sorted(n for n in stack.children() if n.startswith("nats-server"))
        assert nodes == ["nats-server-n1", "nats-server-n2", "nats-server-n3"]
        os.kill(stack.children()["nats-server-n2"], signal.SIGKILL)

        async def restarted() -> bool:
            return stack.restarts.get("nats-server") == 1

        await wait_for(restarted, timeout=60, every=0.05)
    finally:
        await stack.stop()
    assert "nats-server n2 exited with -9" in (tmp_path / "up.log").read_text()


async def test_a_start_that_fails_stops_what_it_started(fakes: Path, tmp_path: Path) -> None:
    missing = Stack(config(tmp_path / "a", simulator_module="no_such_sim"), echo=False)
    with pytest.raises(RuntimeError, match="simulator is not installed"):
        await missing.start()
    refused = Stack(config(tmp_path / "refuse", nats_url=None), echo=False)
    with pytest.raises(RuntimeError, match="nats-server exited"):
        await refused.start()
    assert refused.children() == {} and stackfile.read(tmp_path / "refuse") is None


async def test_a_second_stack_on_a_live_stacks_data_is_refused(tmp_path: Path) -> None:
    stackfile.write(tmp_path, {"pid": os.getppid(), "nats_url": FAKE_NATS})
    with pytest.raises(StackRunningError, match="already runs"):
        await Stack(config(tmp_path), echo=False).start()
    assert stackfile.live(tmp_path) is not None


async def test_a_supervisor_that_fails_flags_the_stack(tmp_path: Path) -> None:
    stack = Stack(config(tmp_path), echo=False, log_file=tmp_path / "up.log")

    async def broken() -> None:
        raise ValueError("a bug")

    await asyncio.gather(stack._watch(broken(), "crsvc"), return_exceptions=True)
    assert stack.failed.is_set()
    assert "[stack] crsvc failed: ValueError('a bug')" in (tmp_path / "up.log").read_text()
