"""A job state larger than NATS max_payload is snapshotted all the same (object store), so
a big workflow cannot crash recovery at its next snapshot (issue 11)."""

from __future__ import annotations

import pytest

from contracts.bus import Bus
from recovery.adapters.snapshots import SnapshotStore
from services.recovery.tests.builders import fold, sd15, submitted

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
