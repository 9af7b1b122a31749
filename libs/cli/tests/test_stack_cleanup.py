"""Every exit path of a start stops what it started: nothing left running, the port free."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from comfy_recovery import stackfile
from comfy_recovery.natsd import free_port, free_port_block
from comfy_recovery.stack import Stack, StackConfig, StackRunningError
from tests.support.system import wait_for

pytestmark = pytest.mark.integration
COMMAND = str(Path(sys.executable).with_name("comfy-recovery"))


def live_children() -> set[int]:
    """Our direct children that are running (not zombies), from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def carrying(marker: str) -> set[int]:
    """Processes whose environment holds `marker` (inherited by everything `up` starts)."""
    found = set()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.add(int(environ.parent.name))
        except OSError:
            continue
    return found


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def config(data: Path, **overrides: Any) -> StackConfig:
    return StackConfig(
        data_dir=data, nats_port=free_port(), health_base_port=free_port_block(8), **overrides
    )


@pytest.mark.parametrize(
    "module",
    ["this", "comfysim_is_not_installed"],  # exits before "backend" lines / cannot start
)
async def test_a_simulator_that_fails_leaves_nothing_behind(tmp_path: Path, module: str) -> None:
    before = live_children()
    cfg = config(tmp_path, simulator_module=module)
    stack = Stack(cfg, echo=False, log_file=tmp_path / "stack.log")
    with pytest.raises(RuntimeError, match="simulator"):
        await stack.start()
    assert stack.nats is not None, "nats-server should have been started first"
    assert live_children() - before == set()
    assert port_free(cfg.nats_port)
    assert stackfile.read(tmp_path) is None


async def test_a_start_cancelled_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    before = live_children()
    cfg = config(tmp_path)
    stack = Stack(cfg, echo=False, log_file=tmp_path / "stack.log")
    task = asyncio.create_task(stack.start())

    async def nats_starting() -> bool:
        return stack.nats is not None and stack.nats.proc is not None

    await wait_for(nats_starting, timeout=60, every=0.01)  # cancel while nats is starting
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live_children() - before == set()
    assert port_free(cfg.nats_port)


async def test_a_second_stack_on_the_same_data_is_refused(tmp_path: Path) -> None:
    stackfile.write(tmp_path, {"pid": os.getppid(), "nats_url": "nats://127.0.0.1:1"})
    before = live_children()
    with pytest.raises(StackRunningError, match="already runs"):
        await Stack(config(tmp_path), echo=False).start()
    assert live_children() - before == set()
    assert stackfile.live(tmp_path) is not None


def test_ctrl_c_during_up_stops_everything_it_started(tmp_path: Path) -> None:
    marker = f"CR_TEST_MARKER={uuid.uuid4()}"
    port = free_port()
    env = up_env(tmp_path, marker, port)
    up = subprocess.Popen([COMMAND, "up"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        log = tmp_path / "nats" / "nats-server.log"
        for _ in range(600):  # interrupt as soon as nats-server is being started
            if log.exists() or up.poll() is not None:
                break
            time.sleep(0.05)
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=120)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, err
    assert carrying(marker) == set(), err
    assert port_free(port)
    assert stackfile.read(tmp_path) is None


def up_env(tmp_path: Path, marker: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CR_")}
    env.update(
        CR_DATA_DIR=str(tmp_path),
        CR_LOCAL_NATS_PORT=str(port),
        CR_HEALTH_BASE_PORT=str(free_port_block(8)),
        CR_SUBMITTER_API_PORT=str(free_port()),
        CR_SIM_BACKENDS="1",
        CR_TEST_MARKER=marker.partition("=")[2],
    )
    return env


def wait_children(tmp_path: Path, count: int, up: subprocess.Popen[str]) -> dict[str, int]:
    for _ in range(1200):
        data = stackfile.read(tmp_path) or {}
        children = data.get("children", {}) if data.get("pid") == up.pid else {}
        if len(children) >= count or up.poll() is not None:
            return dict(children)
        time.sleep(0.05)
    return {}


def test_the_next_up_ends_what_a_killed_up_left_running(tmp_path: Path) -> None:
    marker = f"CR_TEST_MARKER={uuid.uuid4()}"
    port = free_port()
    env = up_env(tmp_path, marker, port)
    first = subprocess.Popen([COMMAND, "up"], env=env, stderr=subprocess.DEVNULL, text=True)
    second = None
    try:
        children = wait_children(tmp_path, 7, first)  # nats, simulator, five services
        assert len(children) == 7, children
        first.kill()  # SIGKILL: no chance to stop anything
        first.wait(30)
        assert carrying(marker) >= set(children.values())  # the orphans are there
        second = subprocess.Popen([COMMAND, "up"], env=env, stderr=subprocess.PIPE, text=True)
        assert len(wait_children(tmp_path, 7, second)) == 7
        assert second.poll() is None, "the second up should run on the freed port"
        second.send_signal(signal.SIGINT)
        _, err = second.communicate(timeout=120)
        assert "ended what a killed stack had left running" in err
        assert second.returncode == 0, err
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert carrying(marker) == set()
    assert port_free(port)
