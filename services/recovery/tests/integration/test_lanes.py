"""Recovery with several lanes (CR_RECOVERY_LANES > 1) on a real nats-server: every job is
decided once, in its own order, and a held job never skips ahead of its nak'd event."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import subjects
from contracts.readmodel import JobStatus
from contracts.settings import BusSettings
from contracts.taxonomy import FailureClass
from cr_client.bus import Bus
from recovery.errors import StoreUnavailableError
from recovery.lanes import LaneConsumer
from services.recovery.tests.builders import classified, dispatched

from .test_service import (
    OOM,
    _status,
    decisions,
    eventually,
    publish,
    service,
    settings_for,
    start_job,
)

pytestmark = pytest.mark.integration

JOBS = 12


async def test_many_jobs_on_eight_lanes_are_each_decided_once(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with service(bus, settings_for(bus_settings, lanes=8)) as running:
        consumer = running.consumers[0]
        assert isinstance(consumer, LaneConsumer)
        for n in range(JOBS):
            job = f"l{n}"
            await publish(bus, *start_job(job), classified(FailureClass.GPU_OOM, job_id=job))
        for n in range(JOBS):
            await eventually(lambda n=n: decisions(bus, f"l{n}"), f"the decision of l{n}")
        info = await bus.js.consumer_info(subjects.EVENTS_STREAM, subjects.DURABLE_RECOVERY)
        assert info.config.max_ack_pending == 8
    for n in range(JOBS):
        assert len(await decisions(bus, f"l{n}")) == 1


async def test_one_lane_puts_the_durable_back_to_one_unacked_message(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with service(bus, settings_for(bus_settings, lanes=4)):
        await publish(bus, *start_job("w1"))
        await eventually(lambda: _status(bus, "w1", JobStatus.FAILED), "the failure folded")
    async with service(bus, settings_for(bus_settings)):
        await publish(bus, dispatched("w1", attempt=2))
        await eventually(lambda: _status(bus, "w1", JobStatus.DISPATCHED), "the dispatch folded")
    info = await bus.js.consumer_info(subjects.EVENTS_STREAM, subjects.DURABLE_RECOVERY)
    assert info.config.max_ack_pending == 1


async def test_a_nakd_event_holds_its_job_and_the_later_event_waits_for_it(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with service(bus, settings_for(bus_settings, lanes=8)) as running:
        consumer = running.consumers[0]
        assert isinstance(consumer, LaneConsumer)
        handlers = consumer.handlers
        real, order, refused = handlers.on_event, [], []

        async def once_unavailable(event: Any, delivery: Any = None) -> None:
            if type(event).__name__ == "FailureClassified" and not refused:
                refused.append(event.event_id)
                raise StoreUnavailableError("KV down for this one event", retry_after_s=0.3)
            order.append(type(event).__name__)
            await real(event, delivery)

        handlers.on_event = once_unavailable  # type: ignore[method-assign]
        failure = classified(FailureClass.GPU_OOM, job_id="h1", features=OOM)
        await publish(bus, *start_job("h1"), failure, dispatched("h1", attempt=2))
        await eventually(lambda: _status(bus, "h1", JobStatus.DISPATCHED), "the redispatch")
        assert refused == [failure.event_id]
        # the second dispatch, published after the refused classification, waited for it
        second_dispatch = [i for i, name in enumerate(order) if name == "JobDispatched"][1]
        assert order.index("FailureClassified") < second_dispatch
    assert len(await decisions(bus, "h1")) == 1
