"""The only wiring: replay the stream, open the KV adapters, build the consumers, serve."""

from __future__ import annotations

import asyncio

import structlog

from contracts import subjects
from contracts.codec import AnyEvent
from cr_client.bus import Bus
from cr_runtime.consumer import Consumer
from cr_runtime.service import Service, run_service
from recovery.adapters import event_log
from recovery.adapters.backends import BackendRegistry
from recovery.adapters.job_store import JobStore
from recovery.adapters.policy_store import PolicyStore
from recovery.adapters.snapshots import SnapshotStore
from recovery.config import Settings
from recovery.errors import DomainError, StoreUnavailableError
from recovery.handlers import Deps, Handlers
from recovery.lanes import LaneConsumer, SerialBreakers
from recovery.projection import Projection, bulk_fold

log = structlog.get_logger(__name__)
SERVICE = "recovery"


async def rebuild(bus: Bus, snapshots: SnapshotStore | None = None) -> Projection:
    """Every job's state: the snapshot (when there is one), then the stream after it."""
    projection = Projection()
    skipped = 0

    def fold(event: AnyEvent) -> None:
        nonlocal skipped
        try:
            projection.apply(event)
        except DomainError as exc:
            skipped += 1
            log.warning("replay.skipped", event_id=event.event_id, error=str(exc))

    with bulk_fold():
        after = 0
        if snapshots is not None:
            after, states = await snapshots.load(await event_log.last_seq(bus))
            projection.restore(states, after)
        count, projection.seq = await event_log.replay(bus, fold, after)
    log.info("replay.done", after=after, events=count, skipped=skipped, jobs=len(projection.jobs))
    return projection


async def build_handlers(bus: Bus, settings: Settings) -> Handlers:
    """Rebuild the state, open the KV adapters, and wire the handlers."""
    snapshots = await SnapshotStore.open(bus) if settings.snapshot_interval_s else None
    projection = await rebuild(bus, snapshots)
    deps = Deps(
        bus=bus,
        projection=projection,
        jobs=await JobStore.open(bus),
        backends=await BackendRegistry.open(bus, settings.breaker_config()),
        policies=await PolicyStore.open(bus, settings.policy.policy()),
        tuning=settings.tuning(),
        source=settings.source(SERVICE),
        read_event=lambda seq: event_log.read(bus, seq),
        snapshots=snapshots,
    )
    handlers = Handlers(deps)
    handlers.refresh_gauges()
    return handlers


async def build(bus: Bus, settings: Settings) -> Service:
    """The service: two consumers (events, telemetry) and the background watchers."""
    handlers = await build_handlers(bus, settings)

    async def tick_forever() -> None:
        while True:
            await asyncio.sleep(settings.breaker.tick_s)
            try:
                await handlers.tick_breakers()
            except StoreUnavailableError as exc:
                log.warning("breaker.tick_failed", error=str(exc))

    async def snapshot_forever() -> None:
        while True:
            await asyncio.sleep(settings.snapshot_interval_s or 0)
            await save_snapshot()

    async def save_snapshot() -> None:
        try:
            await handlers.save_snapshot()
        except StoreUnavailableError as exc:
            log.warning("snapshot.failed", error=str(exc))

    SerialBreakers(handlers.deps.backends)
    tasks = [handlers.deps.backends.watch, handlers.deps.policies.watch, tick_forever]
    return Service(
        consumers=[
            # one lane per job, `lanes` events in flight (1: one at a time, in stream order)
            LaneConsumer(bus, subjects.DURABLE_RECOVERY, handlers, settings.lanes),
            Consumer(bus, subjects.DURABLE_RECOVERY_TELEMETRY, handlers.on_telemetry),
        ],
        tasks=[*tasks, snapshot_forever] if settings.snapshot_interval_s else tasks,
        on_stop=[save_snapshot] if settings.snapshot_interval_s else [],
    )


async def run(settings: Settings, stop_event: asyncio.Event | None = None) -> None:
    """Run the recovery service until SIGINT/SIGTERM (or `stop_event`)."""
    await run_service(SERVICE, settings, build, stop_event)
