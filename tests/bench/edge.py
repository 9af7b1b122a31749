"""What the edge adds to a job's end-to-end time: N small jobs posted straight to the
simulator (POST /prompt, then `executing` with node null on a websocket) next to the same
jobs through `JobClient.submit` → job.completed (submitter and monitor in this process with
their real `run`, a real nats-server), interleaved in one run.

The edge path is timed by a plain NATS subscription to the job's subjects (every stored
event is also delivered on core NATS at once), not by `JobClient.result`, whose idle polling
backs off to 0.5 s and would be counted as edge time. The same subscription splits the edge
path into hops: submit → job.dispatched (submitter: consume, POST /prompt, publish) and
job.dispatched → job.completed (ComfyUI's run plus monitor: websocket, /history, publish).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from comfy_recovery.natsd import NatsServer
from comfysim import SimBackendSpec, SimCluster
from comfysim.testing import WsRecorder, submit_and_wait
from comfysim.workflows import txt2img
from contracts import BusSettings
from cr_client import JobClient
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


Hops = dict[str, float]


async def ours(client: JobClient, seed: int) -> Hops:
    """Seconds from JobClient.submit to each of the job's events, as they are published."""
    job_id = uuid.uuid4().hex
    seen: Hops = {}
    done = asyncio.Event()
    started = time.perf_counter()

    async def on_event(msg: Any) -> None:
        kind = ".".join(msg.subject.split(".")[:2])
        seen.setdefault(kind, time.perf_counter() - started)
        if kind in ("job.completed", "job.failed", "recovery.decided"):
            done.set()

    sub = await client.bus.nc.subscribe(f"*.*.{job_id}", cb=on_event)
    try:
        started = time.perf_counter()
        await client.submit(graph(seed), job_id=job_id)
        await asyncio.wait_for(done.wait(), 120)
    finally:
        await sub.unsubscribe()
    if "job.completed" not in seen:
        result = await client.result(job_id, timeout=120)
        raise RuntimeError(f"bench job ended {result.status}: {result.reason}")
    return seen


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


async def measure(store: Path) -> tuple[list[float], list[Hops]]:
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


def report(straight: list[float], hops: list[Hops]) -> list[str]:
    """p50/p95 of both paths and the overhead, in milliseconds and as a ratio; the hops."""
    edged = [h["job.completed"] for h in hops]
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
    dispatched = [h["job.dispatched"] for h in hops]
    running = [h["job.completed"] - h["job.dispatched"] for h in hops]
    lines.append(
        f"  hops (p50)           submit → dispatched {statistics.median(dispatched) * 1000:6.1f} ms"
        f"   dispatched → completed {statistics.median(running) * 1000:6.1f} ms"
        f" (ComfyUI alone {p50_d * 1000:.1f} ms)"
    )
    return lines


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        straight, edged = asyncio.run(measure(Path(tmp)))
    for line in report(straight, edged):
        print(line)


if __name__ == "__main__":
    main()
