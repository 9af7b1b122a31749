"""Redelivered, replayed and re-inserted events never count twice: row counts are exact."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from analytics.app import retry_policy
from analytics.config import Settings
from analytics.projection import dedup_token, to_row
from analytics.projector import Projector
from analytics.store import Store
from contracts import BusSettings, codec, subjects
from contracts.streams import CONSUMERS_BY_NAME
from cr_client import Bus
from cr_client.streams import ensure_consumer
from cr_runtime.consumer import Delivery

from ..scripted import scripted_jobs, telemetry_and_control
from ..support import (
    counts_by_type,
    pending_work,
    physical_rows,
    publish_all,
    running,
    stored_counts,
    wait_for_counts,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_reinserting_a_batch_in_any_composition_counts_each_event_once(
    store: Store,
) -> None:
    events = scripted_jobs()
    rows = [to_row(e, subjects.EVENTS_STREAM, i) for i, e in enumerate(events)]
    await store.insert(rows, dedup_token(rows))
    await store.insert(rows, dedup_token(rows))
    assert await physical_rows(store) == len(rows)  # same token: dropped at insert
    half = rows[::2]
    await store.insert(half, dedup_token(half))
    assert await stored_counts(store) == counts_by_type(events)  # FINAL: counted once


def _redeliveries(durable: str) -> float:
    value = REGISTRY.get_sample_value("cr_redeliveries_total", {"durable": durable})
    return value or 0.0


async def test_batch_stored_but_never_acked_is_redelivered_and_counted_once(
    bus: Bus, analytics_settings: Settings, store: Store
) -> None:
    events = scripted_jobs()
    await publish_all(bus, events)
    sub = await bus.js.pull_subscribe_bind(
        durable=subjects.DURABLE_ANALYTICS_EVENTS, stream=subjects.EVENTS_STREAM
    )
    msgs = await sub.fetch(len(events), timeout=5)
    crashed = [Delivery(codec.decode(m.data), m) for m in msgs[: len(msgs) // 2]]
    # a crash between insert and ack: half the batch is stored, nothing is acked
    await Projector(store, retry_policy(analytics_settings)).handle(crashed)
    await sub.unsubscribe()
    before = _redeliveries(subjects.DURABLE_ANALYTICS_EVENTS)
    async with running(analytics_settings, store):
        await wait_until(lambda: pending_work(bus), lambda n: n == 0)
    assert _redeliveries(subjects.DURABLE_ANALYTICS_EVENTS) - before >= len(events)
    assert await stored_counts(store) == counts_by_type(events)


async def test_replay_from_a_reset_consumer_and_a_republished_event_count_once(
    bus: Bus, bus_settings: BusSettings, analytics_settings: Settings, store: Store
) -> None:
    events = scripted_jobs() + telemetry_and_control()
    expected = counts_by_type(events)
    async with running(analytics_settings, store):
        await publish_all(bus, events)
        assert await wait_for_counts(store, expected) == expected
    # the same event again under another Nats-Msg-Id: JetStream keeps both copies
    again = events[3]
    headers = {subjects.HDR_MSG_ID: f"{again.event_id}-again"}
    await bus.publish_raw(codec.subject_for(again), codec.encode(again), headers)
    for durable in (subjects.DURABLE_ANALYTICS_EVENTS, subjects.DURABLE_ANALYTICS_TELEMETRY):
        spec = CONSUMERS_BY_NAME[durable]
        await bus.js.delete_consumer(spec.stream, durable)
        await ensure_consumer(bus.js, spec, bus_settings)  # delivers the whole log again
    assert await pending_work(bus) == len(events) + 1
    async with running(analytics_settings, store):
        await wait_until(lambda: pending_work(bus), lambda n: n == 0)
    assert await stored_counts(store) == expected
