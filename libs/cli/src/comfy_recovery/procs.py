"""Ending child processes as a whole: each child of the stack leads its own process group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


def signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    """Send `sig` to the child's whole process group (each child leads its own session)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def end_process(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds, and reap the child."""
    signal_group(proc, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        signal_group(proc, signal.SIGKILL)
        await proc.wait()
