"""The stack's children: started in their own process group, ended as a whole."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

Child = asyncio.subprocess.Process


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


async def spawn_module(module: str, *args: str, env: dict[str, str] | None = None) -> Child:
    """``python -m module args…`` leading its own process group (`end_process` ends it
    whole), stdin closed, stdout and stderr in one pipe."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )


async def read_simulator_urls(proc: Child, backends: int) -> list[str]:
    """The simulator's ``id=url`` backends, from the ``backend <id> <url>`` lines it prints
    once each one listens.

    Raises:
        RuntimeError: it exited first (with the last lines it printed).
        TimeoutError: it printed nothing for 30 s.
    """
    urls: list[str] = []
    output: list[str] = []
    assert proc.stdout is not None
    while len(urls) < backends:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not line:
            tail = "".join(output[-5:]).strip()
            raise RuntimeError(f"the simulator exited before it was ready: {tail}")
        output.append(line)
        if line.startswith("backend "):
            _, ident, url = line.split()
            urls.append(f"{ident}={url}")
    return urls
