"""The submitter's wiring: HTTP clients, registry, consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.backends import parse_backends
from cr_client.bus import Bus
from cr_client.client import JobClient
from cr_runtime.bulk import ConcurrentConsumer
from cr_runtime.consumer import Consumer
from cr_runtime.service import Service, run_service
from submitter.adapters.claims import Claims
from submitter.adapters.comfy import ComfyClient, make_http
from submitter.adapters.registry import Registry
from submitter.api.app import create_api, serve_api
from submitter.api.deps import ApiDeps
from submitter.config import Settings
from submitter.dispatcher import Dispatcher
from submitter.handlers import Handlers

SERVICE = "submitter"


async def paused_at_start(bus: Bus) -> bool:
    """Whether the latest control event is an emergency stop (so a restart stays paused)."""
    seqs = {}
    for subject in (subjects.CONTROL_EMERGENCY_STOP, subjects.CONTROL_RESUMED):
        try:
            msg = await bus.js.get_last_msg(subjects.EVENTS_STREAM, subject)
            seqs[subject] = msg.seq or 0
        except NotFoundError:
            seqs[subject] = 0
    return seqs[subjects.CONTROL_EMERGENCY_STOP] > seqs[subjects.CONTROL_RESUMED]


def api_task(
    bus: Bus, registry: Registry, settings: Settings
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The HTTP API as a background task of this service."""
    tokens = frozenset(
        t.strip() for t in settings.api_tokens.get_secret_value().split(",") if t.strip()
    )
    deps = ApiDeps(
        JobClient(bus, source="submitter-api"), registry, tokens, settings.api_open_health
    )
    app = create_api(deps, settings.api_max_body_bytes)
    port = settings.api_port
    assert port is not None
    return lambda: serve_api(app, settings.api_host, port)


async def build(bus: Bus, settings: Settings) -> Service:
    """Everything the submitter runs, on a connected bus."""
    refs = parse_backends(settings.comfyui_urls)
    http = make_http(settings.connect_timeout_s, settings.read_timeout_s, settings.max_connections)
    registry = Registry(refs)
    await registry.start(bus)
    # a holder that neither posted nor gave up within this is gone (see `Claims`); each
    # instance has its own holder name, even two in one process
    stale_after_s = 4 * (settings.connect_timeout_s + settings.read_timeout_s)
    source = settings.source(SERVICE)
    holder = f"{source}/{uuid.uuid4().hex[:8]}"
    dispatcher = Dispatcher(
        bus,
        registry,
        {ref.id: ComfyClient(ref, http) for ref in refs},
        Claims(bus, holder, stale_after_s),
        source=source,
        no_backend_retry_s=settings.no_backend_retry_s,
        default_stall_window_s=settings.default_stall_window_s,
        max_queue=settings.max_queue_per_backend,
    )
    dispatcher.paused = await paused_at_start(bus)
    handlers = Handlers(dispatcher)
    tasks: list[Callable[[], Coroutine[Any, Any, None]]] = [
        registry.watch,
        partial(registry.follow_others, bus, source),  # their dispatches count in load
    ]
    if settings.api_port is not None:
        tasks.append(api_task(bus, registry, settings))
    return Service(
        consumers=[
            # new jobs need no order among themselves (claims in KV stop double posts), so
            # a batch's first dispatches run side by side instead of one post at a time
            ConcurrentConsumer(bus, subjects.DURABLE_SUBMITTER_JOBS, handlers.on_job, batch=16),
            Consumer(bus, subjects.DURABLE_SUBMITTER_DECISIONS, handlers.on_decision, batch=16),
            Consumer(bus, subjects.DURABLE_SUBMITTER_CONTROL, handlers.on_control, batch=1),
        ],
        tasks=tasks,
        on_stop=[http.aclose],
    )


async def run(settings: Settings, stop_event: asyncio.Event | None = None) -> None:
    """Run the submitter until SIGINT/SIGTERM (or `stop_event`)."""
    await run_service(SERVICE, settings, build, stop_event)
