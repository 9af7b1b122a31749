"""The stack's child-process helpers on real (tiny) Python children, and `up`'s refusals
before anything starts."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from comfy_recovery.cli import main
from comfy_recovery.errors import EXIT_USAGE
from comfy_recovery.procs import end_process, read_simulator_urls, signal_group, spawn_module

CHILD = """\
import signal, sys, time
if "stubborn" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
for ident in sys.argv[2:]:
    print(f"booting {ident}")
    print(f"backend {ident} http://127.0.0.1:1/{ident}", flush=True)
if sys.argv[1] == "wait":
    time.sleep(600)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "crchild.py").write_text(CHILD)
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


async def test_the_simulators_urls_are_read_from_its_lines(env: dict[str, str]) -> None:
    child = await spawn_module("crchild", "wait", "b0", "b1", env=env)
    try:
        urls = await read_simulator_urls(child, 2)
        assert urls == ["b0=http://127.0.0.1:1/b0", "b1=http://127.0.0.1:1/b1"]
    finally:
        await end_process(child, grace=30)
    assert child.returncode == -signal.SIGTERM
    signal_group(child, signal.SIGTERM)  # already reaped: nothing is sent


async def test_a_simulator_that_exits_early_is_reported_with_its_last_lines(
    env: dict[str, str],
) -> None:
    child = await spawn_module("crchild", "exit", "b0", env=env)
    with pytest.raises(RuntimeError, match="exited before it was ready: booting b0"):
        await read_simulator_urls(child, 2)
    await child.wait()


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(
    env: dict[str, str],
) -> None:
    child = await spawn_module("crchild", "wait", "stubborn", env=env)
    await read_simulator_urls(child, 1)  # its SIGTERM handler is in place
    await end_process(child, grace=0.2)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("argv", "url", "says"),
    [
        (["up", "--cluster", "9"], "", "between 1 and 5 nodes"),
        (["up", "--cluster", "3"], "nats://127.0.0.1:1", "unset CR_NATS_URL"),
    ],
)
def test_up_refuses_a_bad_cluster_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    url: str,
    says: str,
) -> None:
    monkeypatch.setenv("CR_NATS_URL", url)
    monkeypatch.setenv("CR_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    assert done.value.code == EXIT_USAGE and out == "" and says in err
    assert not (tmp_path / "data").exists()
