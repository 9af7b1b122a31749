"""The installed `comfy-recovery` command, run as a user would, against a given NATS."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

COMMAND = str(Path(sys.executable).with_name("comfy-recovery"))


async def run_cli(
    nats_url: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`comfy-recovery ARGS` with CR_NATS_URL set (run off the event loop)."""
    return await run_with({**os.environ, "CR_NATS_URL": nats_url}, *args, timeout=timeout)


async def run_with(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`comfy-recovery ARGS` with exactly `env` (run off the event loop)."""
    return await asyncio.to_thread(
        subprocess.run,
        [COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
