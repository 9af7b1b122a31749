"""The whole system for end-to-end tests: the five services as separate processes (the
production supervisor), a real nats-server, and the simulator in this process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from comfy_recovery.natsd import free_port, free_port_block
from comfy_recovery.stack import Stack, StackConfig
from comfysim import SimBackendSpec, SimCluster
from contracts import BusSettings
from cr_client import JobClient
from cr_client.bus import Bus
from tests.support.cleanup import purge_everything

FAST_ENV = {
    "CR_MONITOR_HEALTH_INTERVAL_S": "1",
    "CR_MONITOR_CHECK_INTERVAL_S": "0.3",
    "CR_MONITOR_RECONCILE_INTERVAL_S": "2",
    "CR_MONITOR_INVENTORY_INTERVAL_S": "5",
    "CR_NATS_ACK_WAIT_S": "10",
    "CR_SUBMITTER_NO_BACKEND_RETRY_S": "1",
    "CR_ANALYTICS_BATCH_MAX_SECONDS": "0.3",
    "CR_MONITOR_NVML": "false",
    "CR_MONITOR_UNREACHABLE_GRACE_S": "3",
}


@dataclass
class System:
    """A running system under test."""

    stack: Stack
    sim: SimCluster
    api_url: str
    client: JobClient
    data_dir: Path

    @property
    def log(self) -> str:
        """Everything the services printed so far (for failure messages)."""
        path = self.data_dir / "stack.log"
        return path.read_text()[-20_000:] if path.exists() else ""


@asynccontextmanager
async def running_system(
    nats_url: str,
    data_dir: Path,
    backends: list[SimBackendSpec] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[System]:
    """Start simulator + services on clean streams; stop everything afterwards."""
    settings = BusSettings(url=nats_url)
    cleaner = await Bus.connect(settings, ensure=False)
    await purge_everything(cleaner)
    await cleaner.close()
    sim = SimCluster(backends or [SimBackendSpec("b0"), SimBackendSpec("b1")])
    await sim.start()
    urls = ",".join(f"{ident}={url}" for ident, url in sim.urls.items())
    api_port = free_port()
    config = StackConfig(
        data_dir=data_dir,
        nats_url=nats_url,
        comfyui_urls=urls,
        health_base_port=free_port_block(8),
        extra_env={**FAST_ENV, "CR_SUBMITTER_API_PORT": str(api_port), **(env or {})},
    )
    stack = Stack(config, echo=False, log_file=data_dir / "stack.log")
    client = await JobClient.connect(settings, source="e2e")
    await stack.start()
    await wait_ready(stack)
    try:
        yield System(stack, sim, f"http://127.0.0.1:{api_port}", client, data_dir)
    finally:
        await client.close()
        await stack.stop()
        await sim.stop()


async def wait_ready(stack: Stack, timeout: float = 60.0) -> None:
    """Until every service answers 200 on /readyz (consumers bound, backends tried)."""
    urls = [f"{base}/readyz" for base in stack.describe()["health"].values()]  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=2) as http:

        async def all_ready() -> bool:
            for url in urls:
                try:
                    if (await http.get(url)).status_code != 200:
                        return False
                except httpx.TransportError:
                    return False
            return True

        await wait_for(all_ready, timeout)


async def wait_for(predicate: Any, timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(every)


def query_chdb(path: Path, sql: str) -> list[list[Any]]:
    """Run SQL on an embedded chDB store in a separate process (one engine per process)."""
    script = (
        "import json, sys, clickhouse_connect\n"
        "c = clickhouse_connect.get_client(interface='chdb', path=sys.argv[1])\n"
        "print(json.dumps(c.query(sys.argv[2]).result_rows, default=str))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows: list[list[Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return rows
