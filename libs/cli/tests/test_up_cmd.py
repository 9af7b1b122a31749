"""`comfy-recovery up` through `main([...])` on a stack of fakes (`fakeprocs`): it runs until
SIGTERM and stops cleanly with exit 0, and each refusal or failure has its exit status and
message. Only the service list is narrowed (to the fake service); the rest is read from the
environment as `up` reads it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from comfy_recovery import stackfile, up_cmd
from comfy_recovery.cli import main
from comfy_recovery.errors import EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from comfy_recovery.natsd import free_port_block
from comfy_recovery.stack import StackConfig
from libs.cli.tests.fakeprocs import FAKE_NATS, fakes

__all__ = ["fakes"]  # the fixture


@dataclass
class FakeServices(StackConfig):
    """The stack's configuration with the fake service in place of the five."""

    services: Sequence[str] = ("crsvc",)


@pytest.fixture
def env(fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`up`'s environment: an external NATS, one ComfyUI, a data directory; the data dir."""
    monkeypatch.setattr(up_cmd, "StackConfig", FakeServices)
    monkeypatch.setenv("CR_NATS_URL", FAKE_NATS)
    monkeypatch.setenv("CR_COMFYUI_URLS", "b0=http://127.0.0.1:9")
    monkeypatch.setenv("CR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CR_HEALTH_BASE_PORT", str(free_port_block(2)))
    return tmp_path / "data"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0), capsys.readouterr().err


def test_up_runs_until_sigterm_then_stops_everything(
    env: Path, fakes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (fakes / "stop-parent").touch()  # the service sends SIGTERM to `up` once it runs
    code, err = run(["up"], capsys)
    assert code == EXIT_OK, err
    assert "[stack] up; Ctrl-C stops everything" in err
    assert "crsvc     | listening on" in err  # padded to "simulator"
    assert err.endswith("[stack] stopped\n")
    assert stackfile.read(env) is None


@pytest.mark.parametrize(
    ("argv", "setting", "says"),
    [
        (["up", "--instances", "5"], {}, "--instances 5: between 1 and 4"),
        (["up"], {"CR_LOCAL_NATS_PORT": "port"}, "CR_LOCAL_NATS_PORT='port' is not a whole"),
        (["up"], {"CR_SIM_BACKENDS": "99"}, "CR_SIM_BACKENDS=99 is out of range (1..64)"),
    ],
)
def test_up_refuses_bad_settings_before_starting_anything(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    setting: dict[str, str],
    says: str,
) -> None:
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    code, err = run(argv, capsys)
    assert code == EXIT_USAGE and says in err
    assert not env.exists()


def test_up_refuses_a_data_directory_a_live_stack_owns(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.mkdir()
    stackfile.write(env, {"pid": 1, "nats_url": FAKE_NATS})  # init: alive, not us
    code, err = run(["up"], capsys)
    assert code == EXIT_REFUSED and "a stack already runs from" in err


def test_up_reports_a_nats_server_that_does_not_start(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CR_NATS_URL")
    monkeypatch.setenv("CR_DATA_DIR", str(tmp_path / "refuse"))  # the fake server exits 1
    code, err = run(["up"], capsys)
    assert code == EXIT_UNAVAILABLE
    assert "comfy-recovery: error: the stack stopped: nats-server exited" in err
