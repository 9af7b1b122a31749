"""Wiring of the analytics service: the store, two batch consumers and the stats responder."""

from __future__ import annotations

import asyncio
import functools
import gc
from typing import Final

import msgspec
import structlog
from nats.aio.msg import Msg

from analytics.config import Settings
from analytics.errors import AnalyticsError, StoreUnavailableError
from analytics.intake import PipelinedConsumer
from analytics.projector import Projector, RetryPolicy
from analytics.stats import collect_stats
from analytics.store import Store, StoreConfig
from contracts import subjects
from contracts.rpc import decode_request, encode_reply
from cr_client.bus import Bus
from cr_runtime.service import Service, run_service

log = structlog.get_logger(__name__)

SERVICE: Final = "analytics"
DURABLES: Final = (subjects.DURABLE_ANALYTICS_EVENTS, subjects.DURABLE_ANALYTICS_TELEMETRY)
GC_THRESHOLDS: Final = (50_000, 20, 100)
"""A batch is tens of thousands of short-lived objects (messages, events, rows): at the
default first threshold (700) the cyclic collector ran hundreds of times a batch, 20-30 %
of the projector's time in bench_projector (measured with ``gc.callbacks``)."""


def tune_gc() -> None:
    """Set this process's collector for batches: what start-up built is frozen (never
    scanned again) and young objects are collected in larger steps. A process setting, so
    the entry point calls it, not `run` (tests run the service inside pytest)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run(
    settings: Settings, *, store: Store | None = None, stop_event: asyncio.Event | None = None
) -> None:
    """Run the analytics service until SIGINT/SIGTERM (or `stop_event`)."""
    await run_service(SERVICE, settings, functools.partial(build_service, store=store), stop_event)


async def build_service(bus: Bus, settings: Settings, *, store: Store | None = None) -> Service:
    """The consumers, responder and checks of one analytics instance.

    A `store` passed in stays open when the service stops (its owner closes it).
    """
    owned = store is None
    store = store or Store(store_config(settings))
    await open_store(store)
    projector = Projector(store, retry_policy(settings))
    consumers = [
        PipelinedConsumer(
            bus,
            durable,
            projector.handle,
            batch=settings.batch_max_rows,
            fetch_timeout_s=settings.batch_max_seconds,
        )
        for durable in DURABLES
    ]
    responder = functools.partial(answer_stats, store=store)
    sub = await bus.nc.subscribe(
        subjects.ANALYTICS_QUERY, queue=subjects.ANALYTICS_QUEUE, cb=responder
    )
    on_stop = [sub.unsubscribe, *([store.close] if owned else [])]
    return Service(consumers=consumers, ready_checks=[store.ping], on_stop=on_stop)


async def open_store(store: Store) -> None:
    """Open and migrate now if the store answers; otherwise the first insert will."""
    try:
        await store.open()
    except StoreUnavailableError as exc:
        log.warning("store.unavailable_at_start", error=str(exc)[:300])


async def answer_stats(msg: Msg, *, store: Store) -> None:
    """Reply to one stats request with the stats, or with an error body."""
    try:
        request = decode_request(msg.data)
        body = await collect_stats(store, request.since_utc(), request.detailed)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        body = {"error": f"bad stats request: {exc}", "error_code": "BAD_REQUEST"}
    except AnalyticsError as exc:
        log.warning("stats.failed", error=str(exc)[:300])
        body = {"error": str(exc), "error_code": exc.error_code}
    if msg.reply:
        await msg.respond(encode_reply(body))


def store_config(settings: Settings) -> StoreConfig:
    """The store's value object from the settings."""
    return StoreConfig(
        interface=settings.interface,
        chdb_path=settings.chdb_path,
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password=settings.password.get_secret_value(),
        database=settings.database,
        secure=settings.secure,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    """How the projector waits out a store outage, bounded by the consumer's limits."""
    return RetryPolicy(
        initial_s=settings.retry_initial_s,
        max_s=settings.retry_max_s,
        max_deliver=settings.nats.max_deliver,
        hold_s=max(settings.nats.ack_wait_s / 3, 0.1),
    )
