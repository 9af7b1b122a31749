"""What the edge adds to a job's end-to-end time: N small jobs posted straight to the
simulator (POST /prompt, then `executing` with node null on a websocket) next to the same
jobs through `JobClient.submit` → job.completed (submitter and monitor in this process with
their real `run`, a real nats-server), interleaved in one run."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from comfy_recovery.natsd import NatsServer
from comfysim import SimBackendSpec, SimCluster
from comfysim.testing import WsRecorder, submit_and_wait
from comfysim.workflows import txt2img
from contracts import BusSettings, JobClient, JobStatus
from monitor.app import run as run_monitor
from monitor.config import Settings as MonitorSettings
from submitter.app import run as run_submitter
from submitter.config import Settings as SubmitterSettings

N = 40
WARMUP = 3
STEPS = 8
CLIENT_ID = "bench-direct"


def graph(seed: int) -> dict[str, Any]:
    """A small txt2img; a new seed per job, so the sampler and what follows always run."""
    prompt = txt2img(steps=STEPS, width=512, height=512, prefix="bench")
    prompt["3"]["inputs"]["seed"] = seed
    return prompt


async def direct(http: httpx.AsyncClient, ws: WsRecorder, seed: int) -> float:
    """Seconds from POST /prompt to the job's `executing` null."""
    started = time.perf_counter()
    await submit_and_wait(http, ws, {"prompt": graph(seed), "client_id": CLIENT_ID})
    return time.perf_counter() - started


async def ours(client: JobClient, seed: int) -> float:
    """Seconds from JobClient.submit to the job's job.completed."""
    started = time.perf_counter()
    result = await client.result(await client.submit(graph(seed)), timeout=120)
    elapsed = time.perf_counter() - started
    if result.status != JobStatus.COMPLETED:
        raise RuntimeError(f"bench job ended {result.status}: {result.reason}")
    return elapsed


@contextlib.asynccontextmanager
async def edge(nats_url: str, urls: str) -> AsyncIterator[None]:
    """Submitter and monitor with production defaults (no NVML, quiet logs)."""
    bus = BusSettings(url=nats_url)
    stop = asyncio.Event()
    services = [
        run_submitter(
            SubmitterSettings(nats=bus, comfyui_urls=urls, log_level="WARNING"),
            stop,
        ),
        run_monitor(
            MonitorSettings(nats=bus, comfyui_urls=urls, nvml=False, log_level="WARNING"),
            stop,
        ),
    ]
    tasks = [asyncio.create_task(service) for service in services]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def measure(store: Path) -> tuple[list[float], list[float]]:
    """Interleave direct and edge jobs on one backend; warm-up jobs are not counted."""
    server = NatsServer(store).start()
    try:
        async with SimCluster([SimBackendSpec("b0")]) as sim:
            url = sim.urls["b0"]
            async with (
                edge(server.url, f"b0={url}"),
                httpx.AsyncClient(base_url=url, timeout=60) as http,
            ):
                ws = await WsRecorder.connect(url, CLIENT_ID)
                client = await JobClient.connect(BusSettings(url=server.url), source="bench")
                try:
                    for seed in range(WARMUP):
                        await ours(client, 10_000 + seed)
                    runs = [
                        (await direct(http, ws, 2 * i), await ours(client, 2 * i + 1))
                        for i in range(N)
                    ]
                finally:
                    await client.close()
                    await ws.close()
    finally:
        server.stop()
    return [d for d, _ in runs], [o for _, o in runs]


def p95(values: list[float]) -> float:
    """The 95th percentile."""
    return statistics.quantiles(values, n=20)[18]


def report(straight: list[float], edged: list[float]) -> list[str]:
    """p50/p95 of both paths and the overhead, in milliseconds and as a ratio."""
    lines = [f"edge: {N} sequential txt2img jobs ({STEPS} steps, 10 ms each), interleaved"]
    for label, values in (("straight to ComfyUI", straight), ("through the edge", edged)):
        lines.append(
            f"  {label:<20} p50 {statistics.median(values) * 1000:7.1f} ms"
            f"   p95 {p95(values) * 1000:7.1f} ms"
        )
    p50_d, p50_o = statistics.median(straight), statistics.median(edged)
    lines.append(
        f"  overhead             p50 {(p50_o - p50_d) * 1000:+7.1f} ms"
        f"   p95 {(p95(edged) - p95(straight)) * 1000:+7.1f} ms   ratio {p50_o / p50_d:5.2f}"
    )
    return lines


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        straight, edged = asyncio.run(measure(Path(tmp)))
    for line in report(straight, edged):
        print(line)


if __name__ == "__main__":
    main()
