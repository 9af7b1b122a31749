"""The monitor's wiring: rebuild the watch set, follow every backend, check, report."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from contracts import subjects
from contracts.backends import BackendRef, parse_backends
from cr_client.bus import Bus
from cr_runtime.consumer import Consumer
from cr_runtime.service import Service, run_service
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.ledger import Ledger
from monitor.adapters.nvml import NvmlProbe, load_pynvml
from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.config import Settings
from monitor.follower import Follower
from monitor.handlers import Watching, rebuild
from monitor.hooks import hook_factory
from monitor.publisher import Publisher
from monitor.restarts import Restarter, RestartGate
from monitor.telemetry import Telemetry, nvml_loop
from monitor.watch import WatchSet

SERVICE = "monitor"


def gpu_task(bus: Bus, settings: Settings) -> Callable[[], Coroutine[Any, Any, None]]:
    """NVML sampling of this host's GPUs, reported under the node's name."""
    probe = (
        NvmlProbe(load_pynvml())
        if settings.nvml
        else NvmlProbe(None, "disabled by CR_MONITOR_NVML=false")
    )
    host = settings.node_name or socket.gethostname()

    async def gpus() -> None:
        await nvml_loop(
            probe, Publisher(bus, settings.source(SERVICE)), host, settings.health_interval_s
        )

    return gpus


def backend_watch(
    ref: BackendRef,
    http: httpx.AsyncClient,
    watches: WatchSet,
    out: Publisher,
    ledger: Ledger,
    settings: Settings,
    clock: Clock,
) -> tuple[Follower, Telemetry]:
    """One backend's follower and its health/inventory probe (run first on each socket)."""
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
        clock=clock,
    )
    probe = Telemetry(follower, reader, out, use_stats_for_gpu=True)
    follower.on_open = probe.health_once
    return follower, probe


async def build(bus: Bus, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> Service:
    """Everything the monitor runs, on a connected bus (only GPU sampling when gpu_only)."""
    if settings.gpu_only:
        return Service(tasks=[gpu_task(bus, settings)])
    refs = parse_backends(settings.comfyui_urls)
    http = httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout_s, connect=3.0))
    watches, out, ledger = WatchSet(), Publisher(bus, settings.source(SERVICE)), Ledger(bus)
    await rebuild(ledger, watches, clock)
    followers: dict[str, Follower] = {}
    telemetry: list[Telemetry] = []
    for ref in refs:
        followers[ref.id], probe = backend_watch(ref, http, watches, out, ledger, settings, clock)
        telemetry.append(probe)
    watching = Watching(
        watches, followers, clock, reconcile_interval_s=settings.reconcile_interval_s
    )

    def every(t: Telemetry) -> Callable[[], Coroutine[Any, Any, None]]:
        return lambda: t.loop(settings.health_interval_s, settings.inventory_interval_s)

    tasks: list[Callable[[], Coroutine[Any, Any, None]]] = [f.run for f in followers.values()]
    tasks += [every(t) for t in telemetry]
    tasks += [lambda: watching.loop(settings.check_interval_s), gpu_task(bus, settings)]

    restarter = Restarter(
        {ref.id: ref for ref in refs},
        hook_factory(settings, http),
        RestartGate(settings.restart_cooldown_s, settings.restart_max_age_s),
        out,
        clock.wall,
        lambda backend_id: followers[backend_id].info.health,
    )

    async def every_backend_tried() -> bool:
        return all(f.tried for f in followers.values())

    return Service(
        consumers=[
            Consumer(bus, subjects.DURABLE_MONITOR_DISPATCHES, watching.on_event, batch=64),
            Consumer(bus, subjects.DURABLE_MONITOR_RESTARTS, restarter.on_event, batch=16),
        ],
        ready_checks=[every_backend_tried],
        tasks=tasks,
        on_stop=[http.aclose],
    )


async def run(settings: Settings, stop_event: asyncio.Event | None = None) -> None:
    """Run the monitor until SIGINT/SIGTERM (or `stop_event`)."""
    await run_service(SERVICE, settings, build, stop_event)
