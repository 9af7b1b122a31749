"""The recovery service against a real nats-server: decisions, read model, breakers, restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from nats.js.errors import KeyNotFoundError

from contracts import codec, subjects
from contracts.backend import BackendInventory, BreakerChanged, BreakerState
from contracts.codec import AnyEvent
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.envelope import utcnow
from contracts.job import JobCancelRequested, JobRetryRequested
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus, JobView, decode_view
from contracts.recovery import Abort, Dispatch, FreeVram, Interrupt, RecoveryDecided
from contracts.settings import BusSettings
from contracts.taxonomy import FailureClass, Strategy
from cr_client.bus import Bus
from cr_runtime.service import Service
from recovery.adapters import event_log
from recovery.adapters.policy_store import encode_policy
from recovery.adapters.snapshots import SEQ_KEY, Mark, SnapshotStore
from recovery.app import build, build_handlers, rebuild, run
from recovery.config import BreakerSettings, Settings
from services.recovery.tests.builders import (
    ALL_MODELS,
    CORE_NODES,
    GIB,
    classified,
    dispatched,
    failed,
    sdxl,
    submitted,
)
from tests.support.stream import stored_events

pytestmark = pytest.mark.integration
OOM = {"requested_bytes": 20 * GIB, "total_bytes": 24 * GIB, "allocated_bytes": int(6.5 * GIB)}


async def eventually(check: Callable[[], Awaitable[Any]], what: str, limit: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy (a bound, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while loop.time() < end:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def stream_events(
    bus: Bus, subject: str, stream: str = subjects.EVENTS_STREAM
) -> list[AnyEvent]:
    """Every event now stored on `subject` (a slow server is waited for, never cut short)."""
    return await stored_events(bus, stream, subject)


async def decisions(bus: Bus, job_id: str) -> list[RecoveryDecided]:
    events = await stream_events(bus, subjects.per_job(subjects.RECOVERY_DECIDED, job_id))
    return [e for e in events if isinstance(e, RecoveryDecided)]


async def view(bus: Bus, job_id: str) -> JobView | None:
    kv = await bus.kv(subjects.KV_JOBS)
    try:
        entry = await kv.get(job_id)
    except KeyNotFoundError:
        return None
    return decode_view(entry.value) if entry.value else None


def settings_for(bus_settings: BusSettings, **kw: Any) -> Settings:
    return Settings(
        nats=bus_settings,
        instance="test",
        breaker=BreakerSettings(min_calls=2, tick_s=0.2),
        **kw,
    )


@contextlib.asynccontextmanager
async def service(bus: Bus, settings: Settings) -> AsyncIterator[Service]:
    """The real service (replay, adapters, consumers, watchers) running in this process."""
    built = await build(bus, settings)
    for consumer in built.consumers:
        consumer.fetch_timeout_s = 0.2
    tasks = [asyncio.create_task(c.run()) for c in built.consumers]
    tasks += [asyncio.create_task(t()) for t in built.tasks]
    try:
        yield built
    finally:
        for consumer in built.consumers:
            consumer.stop()
        await asyncio.wait(tasks[: len(built.consumers)], timeout=10)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def publish(bus: Bus, *events: AnyEvent) -> None:
    for event in events:
        await bus.publish(event)


async def inventory_of(bus: Bus, *backend_ids: str) -> None:
    for backend_id in backend_ids:
        await bus.publish(
            BackendInventory(
                event_id=f"inv-{backend_id}",
                job_id="-",
                occurred_at=utcnow(),
                source="test",
                backend_id=backend_id,
                node_classes=sorted(CORE_NODES),
                models=ALL_MODELS,
                comfyui_version="0.33.0",
                device_type="cuda",
                vram_total=24 * GIB,
            )
        )


def start_job(job_id: str, backend_id: str = "gpu-a") -> list[AnyEvent]:
    return [
        submitted(job_id, sdxl(batch=8)),
        dispatched(job_id, backend_id=backend_id),
        failed(job_id, backend_id=backend_id),
    ]


async def test_an_oom_is_decided_once_with_a_batch_split_and_the_read_model_shows_it(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with service(bus, settings_for(bus_settings)) as running:
        await inventory_of(bus, "gpu-a")
        await eventually(lambda: _has_backend(running, "gpu-a"), "inventory in the registry")
        await publish(
            bus, *start_job("j1"), classified(FailureClass.GPU_OOM, job_id="j1", features=OOM)
        )
        (decision,) = await eventually(lambda: decisions(bus, "j1"), "a decision")
        assert decision.strategy is Strategy.REDUCE_PARAMS
        assert isinstance(decision.actions[0], FreeVram)
        dispatch = decision.actions[-1]
        assert isinstance(dispatch, Dispatch) and dispatch.attempt == 2
        assert sum(g["cr_split_5"]["inputs"]["length"] for g in dispatch.workflows) == 8
        shown = await eventually(lambda: _status(bus, "j1", JobStatus.RECOVERING), "the read model")
        assert shown.retry_count == 1 and shown.backends_tried == ["gpu-a"]
        assert shown.recovery_history[0].strategy == "REDUCE_PARAMS"
        assert shown.recovery_history[0].changes[0].param == "batch_part_size"
        assert shown.original_params["batch_size"] == 8


async def test_a_redelivered_failure_gets_one_decision(bus: Bus, bus_settings: BusSettings) -> None:
    failure = classified(FailureClass.BACKEND_ERROR, job_id="j2")
    async with service(bus, settings_for(bus_settings)):
        await publish(bus, *start_job("j2"), failure)
        await eventually(lambda: decisions(bus, "j2"), "the first decision")
        # The same message again, past JetStream's dedup (as a redelivery would bring it).
        subject = codec.subject_for(failure)
        await bus.publish_raw(subject, codec.encode(failure), {subjects.HDR_MSG_ID: "again"})
        await publish(bus, dispatched("j2", attempt=2))
        await eventually(
            lambda: _status(bus, "j2", JobStatus.DISPATCHED), "the later event handled"
        )
    assert len(await decisions(bus, "j2")) == 1


async def test_a_restart_rebuilds_the_state_and_decides_nothing_twice(
    bus: Bus, bus_settings: BusSettings
) -> None:
    settings = settings_for(bus_settings)
    first = classified(FailureClass.BACKEND_ERROR, job_id="j3")
    # Instance 1 decides and publishes but dies before acknowledging (kill -9).
    crashed = await build(bus, settings)
    await publish(bus, *start_job("j3"))
    handlers = _handlers(crashed)
    for event in start_job("j3"):
        await handlers.on_event(event)
    await publish(bus, first)
    await handlers.on_event(first)
    assert len(await decisions(bus, "j3")) == 1
    # Instance 2 replays the stream before consuming: the decision is already there.
    replayed = await rebuild(bus)
    assert replayed.jobs["j3"].status is JobStatus.RECOVERING
    assert first.event_id in replayed.jobs["j3"].decisions
    # Then the durable consumer redelivers everything unacked: nothing is decided twice.
    async with service(bus, settings):
        await publish(bus, dispatched("j3", attempt=2), failed("j3", attempt=2))
        second = classified(FailureClass.BACKEND_ERROR, job_id="j3", attempt=2)
        await publish(bus, second)
        found = await eventually(lambda: _at_least(bus, "j3", 2), "the second decision")
    assert [d.answers_event_id for d in found] == [first.event_id, second.event_id]


async def test_an_instance_folds_what_another_instance_handled_before_deciding(
    bus: Bus, bus_settings: BusSettings
) -> None:
    settings = settings_for(bus_settings)
    await publish(bus, *start_job("m1"))
    other = await build_handlers(bus, settings)  # replayed up to here, then idle
    first = classified(FailureClass.UNKNOWN, job_id="m1")
    async with service(bus, settings):
        await publish(bus, first)
        await eventually(lambda: decisions(bus, "m1"), "the first instance's decision")
    second = classified(FailureClass.UNKNOWN, job_id="m1", attempt=2)
    await publish(bus, dispatched("m1", attempt=2), failed("m1", attempt=2), second)
    # The durable consumer hands `second` to the other instance: it must see `first`.
    await other.on_event(second, SimpleNamespace(stream_seq=await event_log.last_seq(bus)))
    found = await decisions(bus, "m1")
    assert [d.strategy for d in found] == [Strategy.RETRY, Strategy.ABORT]


async def test_a_live_policy_change_in_kv_applies_to_the_next_decision(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with service(bus, settings_for(bus_settings)) as running:
        kv = await bus.kv(subjects.KV_POLICY)
        await kv.put(subjects.POLICY_KEY, encode_policy(RecoveryPolicy(max_attempts=1)))
        store = _handlers(running).deps.policies
        await eventually(lambda: _async(store.current.max_attempts == 1), "the policy watch")
        await publish(bus, *start_job("j4"), classified(FailureClass.BACKEND_ERROR, job_id="j4"))
        (decision,) = await eventually(lambda: decisions(bus, "j4"), "a decision")
    assert decision.terminal and "1 attempts" in decision.reason


async def test_cancel_interrupts_the_running_prompt_and_the_job_ends_cancelled(
    bus: Bus, bus_settings: BusSettings
) -> None:
    cancel = JobCancelRequested(
        event_id="c5", job_id="j5", occurred_at=utcnow(), source="test", reason="no"
    )
    async with service(bus, settings_for(bus_settings)):
        await publish(bus, submitted("j5", sdxl()), dispatched("j5"), cancel)
        (decision,) = await eventually(lambda: decisions(bus, "j5"), "a decision")
        assert decision.strategy is Strategy.CANCEL and decision.terminal
        assert isinstance(decision.actions[0], Interrupt)
        abort = decision.actions[-1]
        assert isinstance(abort, Abort) and abort.cancelled
        await eventually(lambda: _status(bus, "j5", JobStatus.CANCELLED), "the read model")


async def test_backend_failures_open_its_breaker_in_kv_and_announce_it(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with service(bus, settings_for(bus_settings)):
        for job in ("j6", "j7"):
            # HTTP 500s: each counts (lost prompts of one crash would count once)
            failure = classified(FailureClass.BACKEND_ERROR, job_id=job)
            await publish(
                bus, *start_job(job), msgspec.structs.replace(failure, occurred_at=utcnow())
            )
            await eventually(lambda job=job: decisions(bus, job), "a decision")
        kv = await bus.kv(subjects.KV_BACKENDS)
        stored = msgspec.json.decode((await kv.get("gpu-a.breaker")).value)
        assert stored["state"] == BreakerState.OPEN
        changes = await eventually(
            lambda: stream_events(bus, "backend.breaker.gpu-a", subjects.TELEMETRY_STREAM),
            "BreakerChanged",
        )
        assert isinstance(changes[0], BreakerChanged) and changes[0].state is BreakerState.OPEN
    # The only backend is open: the job waits for it to let a probe through again.
    (later,) = await decisions(bus, "j7")
    waiting = next(a for a in later.actions if isinstance(a, Dispatch))
    assert later.strategy is Strategy.RETRY and later.delay_s > 20
    assert waiting.wait_until is not None and later.reason.startswith("waiting")


async def test_inventory_reaches_the_shared_registry(bus: Bus, bus_settings: BusSettings) -> None:
    async with service(bus, settings_for(bus_settings)) as running:
        await inventory_of(bus, "gpu-z")
        await eventually(lambda: _has_backend(running, "gpu-z"), "inventory in the registry")
        kv = await bus.kv(subjects.KV_BACKENDS)
        stored = msgspec.json.decode((await kv.get("gpu-z.inventory")).value, type=BackendInventory)
        assert stored.vram_total == 24 * GIB
        view_now = _handlers(running).deps.backends.snapshot(utcnow()).get("gpu-z")
        assert view_now is not None and "LatentFromBatch" in (view_now.node_classes or ())


async def test_manual_retry_with_a_new_policy_dispatches_the_original_again(
    bus: Bus, bus_settings: BusSettings
) -> None:
    retry = JobRetryRequested(
        event_id="r9",
        job_id="j9",
        occurred_at=utcnow(),
        source="test",
        policy=RecoveryPolicy(max_attempts=3),
    )
    async with service(bus, settings_for(bus_settings)):
        await publish(
            bus, *start_job("j9"), classified(FailureClass.PERMISSION_DENIED, job_id="j9")
        )
        await eventually(lambda: _status(bus, "j9", JobStatus.ABORTED), "the abort")
        await publish(bus, retry)
        found = await eventually(lambda: _at_least(bus, "j9", 2), "the retry decision")
        shown = await eventually(lambda: _status(bus, "j9", JobStatus.RECOVERING), "the read model")
    assert found[1].answers_event_id == "r9" and found[1].strategy is Strategy.RETRY
    dispatch = found[1].actions[-1]
    assert isinstance(dispatch, Dispatch) and dispatch.attempt == 2
    assert [step.strategy for step in shown.recovery_history] == ["ABORT", "RETRY"]


async def test_emergency_stop_marks_running_jobs_until_resumed(
    bus: Bus, bus_settings: BusSettings
) -> None:
    stop = EmergencyStopRequested(
        event_id="stop", job_id="-", occurred_at=utcnow(), source="t", reason="drill"
    )
    resumed = DispatchResumed(event_id="go", job_id="-", occurred_at=utcnow(), source="t")
    async with service(bus, settings_for(bus_settings)):
        await publish(bus, submitted("j10", sdxl()), dispatched("j10"), stop)
        await eventually(lambda: _message(bus, "j10", "drill"), "the pause mark")
        await publish(bus, resumed)
        await eventually(lambda: _message(bus, "j10", None), "the mark cleared")


async def test_a_snapshot_and_the_tail_rebuild_the_same_state_as_a_full_replay(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with service(bus, settings_for(bus_settings)) as running:
        await publish(bus, *start_job("s1"), classified(FailureClass.BACKEND_ERROR, job_id="s1"))
        await eventually(lambda: decisions(bus, "s1"), "a decision")
        projection = _handlers(running).deps.projection
        end = await event_log.last_seq(bus)
        await eventually(lambda: _async(projection.seq >= end), "the consumer caught up")
        handlers = _handlers(running)
        await handlers.save_snapshot()
    await publish(bus, dispatched("s1", attempt=2), submitted("s2", sdxl()))
    store = await SnapshotStore.open(bus)
    seq, states = await store.load(await event_log.last_seq(bus))
    assert seq >= end and [s.job_id for s in states] == ["s1"]
    assert (await rebuild(bus, store)).jobs == (await rebuild(bus)).jobs


async def test_a_snapshot_of_a_recreated_stream_is_ignored(bus: Bus) -> None:
    store = await SnapshotStore.open(bus)
    kv = await bus.kv(subjects.KV_SNAPSHOTS)
    await kv.put(SEQ_KEY, msgspec.json.encode(Mark(seq=10_000)))
    await publish(bus, submitted("s3", sdxl()))
    assert await store.load(await event_log.last_seq(bus)) == (0, [])
    assert "s3" in (await rebuild(bus, store)).jobs


async def test_run_serves_until_stopped(bus: Bus, bus_settings: BusSettings) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings_for(bus_settings), stop_event=stop))
    await publish(bus, submitted("j8", sdxl()))
    await eventually(lambda: view(bus, "j8"), "the read model written by run()")
    stop.set()
    await asyncio.wait_for(task, 30)


def _handlers(built: Service) -> Any:
    return built.consumers[1].handler.__self__  # type: ignore[union-attr] (telemetry's)


async def _has_backend(built: Service, backend_id: str) -> bool:
    return backend_id in _handlers(built).deps.backends.inventories


async def _status(bus: Bus, job_id: str, status: JobStatus) -> JobView | None:
    shown = await view(bus, job_id)
    return shown if shown is not None and shown.status is status else None


async def _message(bus: Bus, job_id: str, text: str | None) -> bool:
    shown = await view(bus, job_id)
    if shown is None:
        return False
    return shown.user_message is None if text is None else text in (shown.user_message or "")


async def _at_least(bus: Bus, job_id: str, n: int) -> list[RecoveryDecided] | None:
    found = await decisions(bus, job_id)
    return found if len(found) >= n else None


async def _async(value: bool) -> bool:
    return value
