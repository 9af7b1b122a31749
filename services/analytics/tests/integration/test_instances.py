"""Two analytics instances on the same durables: each stores a share, and no event counts
twice, even when one instance's store is slow and holds its batches."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from analytics.config import Settings
from analytics.store import EVENTS_TABLE, Store, StoreConfig, connect_client
from contracts import subjects
from contracts.codec import AnyEvent
from cr_client import Bus

from ..scripted import scripted_jobs, telemetry_and_control
from ..support import (
    WAIT_S,
    ClientWrapper,
    counts_by_type,
    pending_work,
    publish_all,
    running,
    stored_counts,
    wait_until,
)

pytestmark = pytest.mark.integration


@dataclass
class Gate:
    """An instance's store at the clickhouse-connect seam: inserts into ``events`` wait for
    `open` (a slow store) and the rows they stored are counted."""

    open: threading.Event = field(default_factory=threading.Event)
    waiting: threading.Event = field(default_factory=threading.Event)
    rows: int = 0


class GatedClient(ClientWrapper):
    """The real client, its event inserts held at `gate`."""

    def __init__(self, real: Any, gate: Gate) -> None:
        super().__init__(real)
        self._gate = gate

    def insert(self, table: str, data: Any, **kwargs: Any) -> Any:
        if table != EVENTS_TABLE:
            return self._real.insert(table, data, **kwargs)
        self._gate.waiting.set()
        self._gate.open.wait(WAIT_S)
        summary = self._real.insert(table, data, **kwargs)
        self._gate.rows += len(data)
        return summary


def gated_store(settings: Settings, gate: Gate) -> Store:
    """One instance's own store on the shared chDB path, behind `gate`."""
    config = StoreConfig(chdb_path=settings.chdb_path, database=settings.database)
    return Store(config, connect=lambda cfg: GatedClient(connect_client(cfg), gate))


def many_events() -> list[AnyEvent]:
    """A few hundred events over both streams (the scripted jobs several times over)."""
    jobs = [e for n in range(6) for e in scripted_jobs(prefix=f"R{n}-")]
    return jobs + telemetry_and_control()


async def undelivered(bus: Bus) -> int:
    """Messages neither analytics durable has delivered to anyone yet."""
    total = 0
    for stream, durable in (
        (subjects.EVENTS_STREAM, subjects.DURABLE_ANALYTICS_EVENTS),
        (subjects.TELEMETRY_STREAM, subjects.DURABLE_ANALYTICS_TELEMETRY),
    ):
        total += int((await bus.js.consumer_info(stream, durable)).num_pending or 0)
    return total


async def test_two_instances_each_store_a_share_and_every_event_counts_once(
    bus: Bus, analytics_settings: Settings
) -> None:
    settings = analytics_settings.model_copy(update={"batch_max_rows": 10})
    events = many_events()
    slow, quick = Gate(), Gate()
    quick.open.set()
    slow_store, quick_store = gated_store(settings, slow), gated_store(settings, quick)
    async with running(settings, slow_store):
        await publish_all(bus, events)
        # the slow instance has taken batches and holds them in its store
        await wait_until(lambda: _is_set(slow.waiting), bool)
        async with running(settings, quick_store):
            # the other instance takes everything the slow one has not
            await wait_until(lambda: undelivered(bus), lambda n: n == 0)
            slow.open.set()
            await wait_until(lambda: pending_work(bus), lambda n: n == 0)
            counts = await stored_counts(quick_store)
    await slow_store.close()
    await quick_store.close()
    assert slow.rows > 0 and quick.rows > 0
    assert slow.rows + quick.rows >= len(events)  # more only if ack_wait ran out on a batch
    assert counts == counts_by_type(events)


async def _is_set(event: threading.Event) -> bool:
    return event.is_set()
