"""A job state larger than NATS max_payload is snapshotted all the same (object store), so
a big workflow cannot crash recovery at its next snapshot; a decision too large for the bus
ends the job with the reason (issue 11)."""

from __future__ import annotations

import pytest

from contracts.settings import BusSettings
from contracts.taxonomy import FailureClass, Strategy
from cr_client.bus import Bus
from recovery.adapters.snapshots import SnapshotStore
from services.recovery.tests.builders import (
    classified,
    dispatched,
    failed,
    fold,
    sd15,
    sdxl,
    submitted,
)
from services.recovery.tests.integration.test_service import (
    OOM,
    _has_backend,
    decisions,
    eventually,
    inventory_of,
    publish,
    service,
    settings_for,
)

pytestmark = pytest.mark.integration


async def test_a_state_over_max_payload_round_trips(bus: Bus) -> None:
    store = await SnapshotStore.open(bus)
    assert store.inline_max < bus.nc.max_payload
    graph = sd15()
    graph["6"]["inputs"]["text"] = "a castle " * (bus.nc.max_payload // 16)
    big = fold(submitted("big-job", graph))
    small = fold(submitted("small-job"))
    await store.save([big, small], seq=2)
    seq, states = await store.load(last_seq=2)
    assert seq == 2
    assert sorted(states, key=lambda s: s.job_id) == [big, small]


async def test_a_missing_object_means_a_full_replay_not_a_crash(bus: Bus) -> None:
    store = await SnapshotStore.open(bus)
    store.inline_max = 1000
    await store.save([fold(submitted("gone-job"))], seq=1)
    assert store._objects is not None
    await store._objects.delete("recovery.job." + "Z29uZS1qb2I")
    assert await store.load(last_seq=1) == (0, [])


async def test_a_decision_too_large_for_the_bus_ends_the_job_with_the_reason(
    bus: Bus, bus_settings: BusSettings
) -> None:
    """A big graph split into parts is one copy per part in one decision: over
    max_payload. The job ends (ABORTED, reason named) instead of waiting forever."""
    graph = sdxl(batch=8)
    graph["6"]["inputs"]["text"] = "a castle " * (bus.nc.max_payload // 16)
    async with service(bus, settings_for(bus_settings)) as running:
        await inventory_of(bus, "gpu-a")
        await eventually(lambda: _has_backend(running, "gpu-a"), "inventory in the registry")
        await publish(
            bus,
            submitted("huge", graph),
            dispatched("huge"),
            failed("huge"),
            classified(FailureClass.GPU_OOM, job_id="huge", features=OOM),
        )
        (decision,) = await eventually(lambda: decisions(bus, "huge"), "a decision")
    assert decision.terminal and decision.strategy is Strategy.ABORT
    assert "over the bus limit" in decision.reason
