"""A raw retry request the job's status does not allow (clients refuse it up front; one sent
past them, or racing a change) is not answered silently: it is logged and counted."""

from __future__ import annotations

import pytest

from contracts.envelope import utcnow
from contracts.job import JobRetryRequested
from contracts.settings import BusSettings
from cr_client.bus import Bus
from recovery import metrics
from services.recovery.tests.builders import dispatched, sdxl, submitted
from services.recovery.tests.integration.test_service import (
    decisions,
    eventually,
    publish,
    service,
    settings_for,
)

pytestmark = pytest.mark.integration


def not_applied() -> float:
    return metrics.REQUESTS_NOT_APPLIED.labels("JobRetryRequested")._value.get()  # type: ignore[attr-defined]


async def test_a_retry_of_a_running_job_is_counted_not_answered(
    bus: Bus, bus_settings: BusSettings
) -> None:
    before = not_applied()
    retry = JobRetryRequested(event_id="r9", job_id="j9", occurred_at=utcnow(), source="raw")
    async with service(bus, settings_for(bus_settings)):
        await publish(bus, submitted("j9", sdxl()), dispatched("j9"), retry)
        await eventually(lambda: _counted(before), "the counter")
        assert await decisions(bus, "j9") == []


async def _counted(before: float) -> bool:
    return not_applied() > before
