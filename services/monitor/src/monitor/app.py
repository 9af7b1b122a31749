"""The monitor's wiring: rebuild the watch set, follow every backend, check, report."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from contracts import subjects
from contracts.backends import parse_backends
from contracts.bus import Bus
from contracts.codec import AnyEvent
from contracts.consumer import Consumer, Delivery
from contracts.job import JobDispatched
from contracts.runtime import Service, configure_logging, serve
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.ledger import Ledger
from monitor.adapters.nvml import NvmlProbe, load_pynvml
from monitor.config import Settings
from monitor.follower import Follower
from monitor.publisher import Publisher
from monitor.telemetry import Telemetry, nvml_loop
from monitor.watch import WatchSet

REBUILD_SUBJECTS = (
    subjects.all_of(subjects.JOB_DISPATCHED),
    subjects.all_of(subjects.JOB_COMPLETED),
    subjects.all_of(subjects.JOB_FAILED),
    subjects.all_of(subjects.JOB_INTERRUPT_SENT),
)


async def rebuild(ledger: Ledger, watches: WatchSet) -> int:
    """Fold every stored dispatch, outcome and interrupt into `watches`; returns the count.

    The fold is a set difference (dispatched minus finished), so reading the four subjects
    one after another gives the same result as reading them interleaved.
    """
    count = 0
    for subject in REBUILD_SUBJECTS:
        async with contextlib.aclosing(ledger.replay(subject)) as events:
            async for event in events:
                watches.apply(event, time.monotonic())
                count += 1
    return count


def gpu_task(bus: Bus, settings: Settings) -> Callable[[], Coroutine[Any, Any, None]]:
    """NVML sampling of this host's GPUs, reported under the node's name."""
    probe = (
        NvmlProbe(load_pynvml())
        if settings.nvml
        else NvmlProbe(None, "disabled by CR_MONITOR_NVML=false")
    )
    host = settings.node_name or socket.gethostname()

    async def gpus() -> None:
        await nvml_loop(probe, Publisher(bus), host, settings.health_interval_s)

    return gpus


async def build(bus: Bus, settings: Settings) -> Service:
    """Everything the monitor runs, on a connected bus (only GPU sampling when gpu_only)."""
    if settings.gpu_only:
        return Service(tasks=[gpu_task(bus, settings)])
    refs = parse_backends(settings.comfyui_urls)
    http = httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout_s, connect=3.0))
    watches, out, ledger = WatchSet(), Publisher(bus), Ledger(bus)
    await rebuild(ledger, watches)
    followers: dict[str, Follower] = {}
    telemetry: list[Telemetry] = []
    for ref in refs:
        reader = ComfyReader(ref, http)
        follower = Follower(
            ref,
            reader,
            watches,
            out,
            ledger,
            progress_per_s=settings.progress_per_s,
            lost_grace_s=settings.lost_grace_s,
            wedge_window_s=settings.wedge_window_s,
            unreachable_grace_s=settings.unreachable_grace_s,
        )
        followers[ref.id] = follower
        telemetry.append(Telemetry(follower, reader, out, use_stats_for_gpu=True))

    async def on_event(event: AnyEvent, delivery: Delivery) -> None:
        watches.apply(event, time.monotonic())
        if isinstance(event, JobDispatched) and event.backend_id in followers:
            # it may have finished before we heard of it: look once now
            follower = followers[event.backend_id]
            for prompt in list(watches.on_backend(event.backend_id)):
                if prompt.job_id == event.job_id and prompt.attempt == event.attempt:
                    await follower.finish(prompt)

    async def checks() -> None:
        last_reconcile = time.monotonic()
        while True:
            await asyncio.sleep(settings.check_interval_s)
            for follower in followers.values():
                await follower.check(time.time())
            if time.monotonic() - last_reconcile >= settings.reconcile_interval_s:
                last_reconcile = time.monotonic()
                for follower in followers.values():
                    await follower.reconcile()

    def every(t: Telemetry) -> Callable[[], Coroutine[Any, Any, None]]:
        return lambda: t.loop(settings.health_interval_s, settings.inventory_interval_s)

    tasks: list[Callable[[], Coroutine[Any, Any, None]]] = [f.run for f in followers.values()]
    tasks += [every(t) for t in telemetry] + [checks, gpu_task(bus, settings)]

    async def every_backend_tried() -> bool:
        return all(f.tried for f in followers.values())

    return Service(
        consumers=[Consumer(bus, subjects.DURABLE_MONITOR_DISPATCHES, on_event, batch=64)],
        ready_checks=[every_backend_tried],
        tasks=tasks,
        on_stop=[http.aclose],
    )


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the monitor until stopped."""
    configure_logging("monitor", settings.log_level)
    await serve(
        "monitor",
        settings.nats,
        lambda bus: build(bus, settings),
        health_port=settings.health_port,
        stop_event=stop,
    )
