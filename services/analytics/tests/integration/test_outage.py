"""The store goes away mid-run: nothing is acked, nothing is lost, nothing is doubled."""

from __future__ import annotations

import functools

import pytest

from analytics.app import store_config
from analytics.config import Settings
from contracts import subjects
from contracts.streams import CONSUMERS_BY_NAME
from cr_client import Bus
from cr_client.streams import ensure_consumer

from ..scripted import scripted_jobs, telemetry_and_control
from ..support import (
    Outage,
    counts_by_type,
    flaky_store,
    pending_work,
    publish_all,
    running,
    stored_counts,
    wait_for_counts,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_store_outage_then_lost_reply_loses_nothing_and_doubles_nothing(
    bus: Bus, analytics_settings: Settings
) -> None:
    outage = Outage()
    store = flaky_store(store_config(analytics_settings), outage)
    before = scripted_jobs(prefix="a-") + telemetry_and_control(prefix="a-")
    during = scripted_jobs(prefix="b-") + telemetry_and_control(prefix="b-")
    try:
        async with running(analytics_settings, store):
            await publish_all(bus, before)
            await wait_for_counts(store, counts_by_type(before))
            outage.down = True
            await publish_all(bus, during)
            await wait_until(functools.partial(_refused, outage), lambda n: n >= 6)
            assert await pending_work(bus) == len(during)  # nothing acked while down
            outage.lose_replies = 1  # first insert after the outage is stored, but nak'd
            outage.down = False
            counts = await wait_for_counts(store, counts_by_type(before + during))
        assert counts == counts_by_type(before + during)
        assert outage.lose_replies == 0
    finally:
        await store.close()


async def _refused(outage: Outage) -> int:
    return outage.refused


async def test_outage_longer_than_max_deliver_holds_the_batch_and_loses_nothing(
    bus: Bus, analytics_settings: Settings
) -> None:
    nats = analytics_settings.nats.model_copy(update={"max_deliver": 3, "ack_wait_s": 2.0})
    settings = analytics_settings.model_copy(update={"nats": nats})
    for durable in (subjects.DURABLE_ANALYTICS_EVENTS, subjects.DURABLE_ANALYTICS_TELEMETRY):
        spec = CONSUMERS_BY_NAME[durable]
        await bus.js.delete_consumer(spec.stream, durable)
        await ensure_consumer(bus.js, spec, nats)
    outage = Outage(down=True)
    store = flaky_store(store_config(settings), outage)
    events = scripted_jobs() + telemetry_and_control()
    try:
        async with running(settings, store):
            await publish_all(bus, events)
            # well past 3 deliveries and several ack_waits: only holding keeps them alive
            await wait_until(functools.partial(_refused, outage), lambda n: n >= 16)
            outage.down = False
            await wait_until(lambda: pending_work(bus), lambda n: n == 0)
        assert await stored_counts(store) == counts_by_type(events)
    finally:
        await store.close()
