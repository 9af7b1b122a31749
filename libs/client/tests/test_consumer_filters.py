"""A durable made with other filter subjects takes the spec's at the next start."""

from __future__ import annotations

import pytest

from contracts import subjects
from contracts.settings import BusSettings
from contracts.streams import CONSUMERS, ConsumerSpec
from cr_client import Bus
from cr_client.streams import consumer_config, ensure_consumer, filters_of

pytestmark = pytest.mark.integration

DURABLE = "test-filters"


async def test_a_durable_with_old_filters_is_updated_to_the_spec(
    bus: Bus, bus_settings: BusSettings
) -> None:
    submitted = subjects.all_of(subjects.JOB_SUBMITTED)
    cancels = subjects.all_of(subjects.JOB_CANCEL_REQUESTED)
    old = ConsumerSpec(DURABLE, subjects.EVENTS_STREAM, (submitted, cancels))
    new = ConsumerSpec(DURABLE, subjects.EVENTS_STREAM, (submitted,))
    try:
        await bus.js.add_consumer(old.stream, consumer_config(old, bus_settings))
        await ensure_consumer(bus.js, new, bus_settings)
        info = await bus.js.consumer_info(new.stream, DURABLE)
        assert filters_of(info.config) == {submitted}
    finally:
        await bus.js.delete_consumer(new.stream, DURABLE)


async def test_every_durable_reads_back_with_its_spec_filters(bus: Bus) -> None:
    """As the server reports them (one subject or several): a start finds nothing to update."""
    for spec in CONSUMERS:
        info = await bus.js.consumer_info(spec.stream, spec.durable)
        assert filters_of(info.config) == set(spec.filter_subjects), spec.durable
