"""Processes left behind by a stack whose supervisor was killed outright (``kill -9``).

Every other exit path stops what it started; a SIGKILLed supervisor cannot. Its stack file
lists the process groups it had started, so the next `up` on that data directory ends the
ones still running (after checking that each still is the program it started) instead of
failing on a port they hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from comfy_recovery import stackfile

POLL_S = 0.1


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def mark(name: str, simulator_module: str) -> bytes:
    """What the command line of the child `name` contains."""
    if name == "nats-server" or name.startswith("nats-server-"):  # a cluster node: -n1…
        return b"nats-server"
    module = simulator_module if name == "simulator" else name
    return b"-m\0" + module.encode() + b"\0"


def ours(pid: int, name: str, simulator_module: str = "comfysim") -> bool:
    """Whether `pid` still leads its own process group and runs the program `name`."""
    if not stackfile.pid_alive(pid):
        return False
    try:
        if os.getpgid(pid) != pid:
            return False
    except ProcessLookupError:
        return False
    return mark(name, simulator_module) in _cmdline(pid) + b"\0"


def leftovers(data: dict[str, Any] | None) -> dict[str, int]:
    """The recorded children of a dead supervisor that are still running."""
    if data is None or stackfile.pid_alive(int(data.get("pid", 0))):
        return {}
    children = data.get("children")
    if not isinstance(children, dict):
        return {}
    module = str(data.get("simulator_module", "comfysim"))
    return {
        str(n): p for n, p in children.items() if isinstance(p, int) and ours(p, str(n), module)
    }


async def end_leftovers(data_dir: Path, grace: float = 10.0) -> list[str]:
    """End the process groups a dead stack left in `data_dir`; the names of those ended."""
    found = leftovers(stackfile.read(data_dir))
    for pid in found.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    for _ in range(int(grace / POLL_S)):  # orphans are not our children: poll, no wait()
        if not any(stackfile.pid_alive(p) for p in found.values()):
            break
        await asyncio.sleep(POLL_S)
    for pid in found.values():
        if stackfile.pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    return sorted(found)
