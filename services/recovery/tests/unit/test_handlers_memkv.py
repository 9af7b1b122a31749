"""Recovery's handlers without a server: real projection, decide, adapters and breaker
keeper, on an in-memory KV bucket and a recording publisher (the seams only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from contracts.backend import BackendHealth, BackendInventory, BreakerState
from contracts.codec import AnyEvent
from contracts.job import JobCancelRequested
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus, decode_view
from contracts.recovery import Abort, RecoveryDecided
from contracts.taxonomy import FailureClass, Strategy
from recovery import metrics
from recovery.adapters.backends import BREAKER, BackendRegistry, key
from recovery.adapters.job_store import JobStore
from recovery.adapters.policy_store import PolicyStore, encode_policy
from recovery.adapters.snapshots import SnapshotStore
from recovery.breaker import BreakerConfig
from recovery.errors import StoreUnavailableError
from recovery.handlers import Deps, Handlers
from recovery.projection import Projection
from recovery.strategies.context import Tuning
from services.recovery.tests.builders import (
    ALL_MODELS,
    CORE_NODES,
    T0,
    classified,
    completed,
    dispatched,
    failed,
    sd15,
    submitted,
)
from services.recovery.tests.memkv import MemoryKV, RecordingBus

C = FailureClass


@dataclass
class Rig:
    handlers: Handlers
    bus: RecordingBus
    jobs: MemoryKV
    backends: MemoryKV
    policy: MemoryKV
    snapshots: MemoryKV

    def view(self, job_id: str = "job-1") -> Any:
        return decode_view(self.jobs.entries[job_id].value or b"")


async def rig(limit: int | None = None, read: dict[int, AnyEvent] | None = None) -> Rig:
    """Handlers wired as `app.build_handlers` wires them, on in-memory buckets."""
    jobs, backends, policy, snaps = MemoryKV(), MemoryKV(), MemoryKV(), MemoryKV()
    registry = BackendRegistry(backends, BreakerConfig())
    await registry.load()
    policies = PolicyStore(policy, RecoveryPolicy())
    await policies.load()
    bus = RecordingBus(limit)
    events = read or {}

    async def read_event(seq: int) -> AnyEvent | None:
        return events.get(seq)

    deps = Deps(
        bus=bus,
        projection=Projection(),
        jobs=JobStore(jobs),  # type: ignore[arg-type]
        backends=registry,
        policies=policies,
        tuning=Tuning(),
        source="recovery-test",
        clock=lambda: T0 + timedelta(seconds=10),
        read_event=read_event,
        snapshots=SnapshotStore(snaps),  # type: ignore[arg-type]
    )
    return Rig(Handlers(deps), bus, jobs, backends, policy, snaps)


def delivery(seq: int) -> Any:
    """What the handlers read of a delivery: its stream sequence."""
    return SimpleNamespace(stream_seq=seq)


async def run_until_failed(r: Rig, failure_class: FailureClass, **kw: Any) -> None:
    for event in (submitted(), dispatched(), failed()):
        await r.handlers.on_event(event)
    await r.handlers.on_event(classified(failure_class, **kw))


async def test_a_classified_failure_is_decided_published_once_and_written_to_the_read_model() -> (
    None
):
    r = await rig()
    await run_until_failed(r, C.GPU_OOM)
    decided = r.bus.of(RecoveryDecided)
    assert [d.strategy for d in decided] == [Strategy.FREE_VRAM]
    assert r.view().status == JobStatus.RECOVERING
    puts = r.jobs.puts
    await r.handlers.on_event(classified(C.GPU_OOM))  # redelivered
    assert len(r.bus.of(RecoveryDecided)) == 1
    assert r.jobs.puts == puts  # the same view is not written again


async def test_a_decision_too_large_for_the_bus_becomes_an_abort_with_the_sizes() -> None:
    r = await rig(limit=1500)
    big = sd15()
    big["9"]["inputs"]["filename_prefix"] = "x" * 2000
    for event in (submitted(workflow=big), dispatched(), failed()):
        await r.handlers.on_event(event)
    await r.handlers.on_event(classified(C.BACKEND_ERROR))
    [decided] = r.bus.of(RecoveryDecided)
    assert decided.strategy is Strategy.ABORT and decided.terminal
    [abort] = decided.actions
    assert isinstance(abort, Abort) and "over the bus limit of 1500 bytes" in abort.reason
    assert r.view().status == JobStatus.ABORTED


def health(backend_id: str, event_id: str = "h1") -> BackendHealth:
    return BackendHealth(
        event_id=f"{backend_id}:{event_id}",
        job_id="",
        occurred_at=T0,
        source="monitor",
        backend_id=backend_id,
        reachable=True,
    )


def full_inventory(backend_id: str) -> BackendInventory:
    """A backend with every node class and model of the test graphs."""
    return BackendInventory(
        event_id=f"{backend_id}:inventory",
        job_id="",
        occurred_at=T0,
        source="monitor",
        backend_id=backend_id,
        node_classes=sorted(CORE_NODES),
        models=ALL_MODELS,
    )


async def test_a_wedged_backend_is_quarantined_in_the_shared_registry() -> None:
    r = await rig()
    for backend_id in ("gpu-a", "gpu-b"):
        await r.handlers.on_telemetry(full_inventory(backend_id))
        await r.handlers.on_telemetry(health(backend_id))
    await run_until_failed(r, C.BACKEND_WEDGED)
    [decided] = r.bus.of(RecoveryDecided)
    assert decided.strategy is Strategy.QUARANTINE_BACKEND
    assert decided.actions[-1].backend_hint == "gpu-b"  # type: ignore[union-attr]
    stored = r.backends.entries[key("gpu-a", BREAKER)].value or b""
    assert msgspec.json.decode(stored)["state"] == BreakerState.OPEN.value
    assert r.handlers.deps.backends.breaker("gpu-a").state is BreakerState.OPEN


async def test_cancel_is_answered_once_and_a_late_one_is_counted_as_not_applied() -> None:
    r = await rig()
    for event in (submitted(), dispatched()):
        await r.handlers.on_event(event)
    cancel = JobCancelRequested(event_id="c1", job_id="job-1", occurred_at=T0, source="t")
    await r.handlers.on_event(cancel)
    assert [d.strategy for d in r.bus.of(RecoveryDecided)] == [Strategy.CANCEL]
    assert r.view().status == JobStatus.CANCELLED
    counter = metrics.REQUESTS_NOT_APPLIED.labels("JobCancelRequested")
    before = counter._value.get()
    late = JobCancelRequested(event_id="c2", job_id="job-1", occurred_at=T0, source="t")
    await r.handlers.on_event(late)
    assert len(r.bus.of(RecoveryDecided)) == 1
    assert counter._value.get() == before + 1


async def test_a_completion_is_folded_and_the_backend_kept_closed() -> None:
    r = await rig()
    for event in (submitted(), dispatched(), completed()):
        await r.handlers.on_event(event)
    assert r.view().status == JobStatus.COMPLETED
    assert r.handlers.deps.backends.breaker("gpu-a").state is BreakerState.CLOSED
    assert r.bus.events == []


async def test_telemetry_fills_the_registry_and_skips_unchanged_health() -> None:
    r = await rig()
    inventory = BackendInventory(
        event_id="i1",
        job_id="",
        occurred_at=T0,
        source="monitor",
        backend_id="gpu-a",
        node_classes=["KSampler"],
        comfyui_version="0.33.0",
    )
    await r.handlers.on_telemetry(inventory)
    await r.handlers.on_telemetry(health("gpu-a"))
    written = r.backends.puts
    await r.handlers.on_telemetry(health("gpu-a", "h2"))
    await r.handlers.on_telemetry(submitted())  # not telemetry: ignored
    assert r.backends.puts == written
    view = r.handlers.deps.backends.snapshot(T0).get("gpu-a")
    assert view is not None and view.comfyui_version == "0.33.0" and view.reachable


async def test_events_another_instance_handled_are_caught_up_before_deciding() -> None:
    earlier = {1: submitted(), 2: dispatched(), 3: failed()}
    r = await rig(read=earlier)
    await r.handlers.on_event(classified(C.GPU_OOM), delivery(4))
    assert [d.strategy for d in r.bus.of(RecoveryDecided)] == [Strategy.FREE_VRAM]
    assert r.handlers.deps.projection.seq == 4


async def test_a_snapshot_saves_the_changed_states_and_keeps_them_dirty_on_failure() -> None:
    r = await rig()
    await r.handlers.save_snapshot()  # nothing folded yet: nothing written
    assert r.snapshots.puts == 0
    await r.handlers.on_event(submitted(), delivery(1))
    r.snapshots.fail_with = TimeoutError()
    with pytest.raises(StoreUnavailableError):
        await r.handlers.save_snapshot()
    assert r.handlers.deps.projection.dirty == {"job-1"}
    r.snapshots.fail_with = None
    await r.handlers.save_snapshot()
    seq, states = await SnapshotStore(r.snapshots).load(1)  # type: ignore[arg-type]
    assert seq == 1 and [s.job_id for s in states] == ["job-1"]


async def test_the_live_policy_applies_to_the_next_decision() -> None:
    r = await rig()
    await r.policy.put("default", encode_policy(RecoveryPolicy(max_attempts=1)))
    store = r.handlers.deps.policies
    entry = await r.policy.get("default")
    store._absorb(entry)  # what the watch delivers
    assert store.current.max_attempts == 1
    await run_until_failed(r, C.BACKEND_ERROR)
    [decided] = r.bus.of(RecoveryDecided)
    assert decided.strategy is Strategy.ABORT and "all 1 attempts are used" in decided.reason
