"""BatchPull on a real nats-server: whole batches, nothing lost or doubled across requests."""

from __future__ import annotations

import pytest
from nats.errors import TimeoutError as NatsTimeout

from contracts import BusSettings, subjects
from contracts.streams import CONSUMERS_BY_NAME
from cr_client import Bus
from cr_client.pull import BatchPull
from cr_client.streams import ensure_consumer

from ..scripted import scripted_jobs

pytestmark = pytest.mark.integration

SPEC = CONSUMERS_BY_NAME[subjects.DURABLE_ANALYTICS_EVENTS]


async def _pull(bus: Bus, bus_settings: BusSettings) -> BatchPull:
    await ensure_consumer(bus.js, SPEC, bus_settings)
    return await BatchPull(bus.nc, SPEC.stream, SPEC.durable).open()


async def test_batches_bring_every_event_once_and_stop_at_the_batch_size(
    bus: Bus, bus_settings: BusSettings
) -> None:
    events = scripted_jobs()
    for event in events:
        await bus.publish(event)
    pull = await _pull(bus, bus_settings)
    seen: list[int] = []
    first = await pull.fetch(5, timeout=2.0)
    assert len(first) == 5  # no more than asked, though more are there
    seen += [m.metadata.sequence.stream for m in first]
    while len(seen) < len(events):
        msgs = await pull.fetch(1000, timeout=2.0)
        seen += [m.metadata.sequence.stream for m in msgs]
        for msg in msgs:
            await msg.ack()
    for msg in first:
        await msg.ack()
    assert sorted(seen) == list(range(1, len(events) + 1))  # all, once, none skipped
    with pytest.raises(NatsTimeout):
        await pull.fetch(1000, timeout=0.3)  # nothing left: a timeout, not an empty batch
    await pull.unsubscribe()


async def test_a_lingering_request_returns_what_arrives_and_an_old_expiry_cuts_nothing(
    bus: Bus, bus_settings: BusSettings
) -> None:
    pull = await _pull(bus, bus_settings)
    with pytest.raises(NatsTimeout):
        await pull.fetch(10, timeout=0.2)  # its request's 408 may arrive during the next one
    events = scripted_jobs()[:3]
    for event in events:
        await bus.publish(event)
    got = []
    while len(got) < len(events):
        got += await pull.fetch(10, timeout=2.0)
    assert [m.metadata.sequence.stream for m in got] == [1, 2, 3]  # in order, once each
    await pull.unsubscribe()
