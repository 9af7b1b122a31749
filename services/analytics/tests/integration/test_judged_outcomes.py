"""Issue 11: a job rejected at validation made attempt 1, and a job completed only through an
operator's manual retry after an abort is not a successful recovery."""

from __future__ import annotations

import pytest

from analytics.config import Settings
from analytics.stats_client import fetch_stats
from analytics.store import Store
from contracts import FailureClass, JobRetryRequested, Strategy
from cr_client import Bus

from ..scripted import Script
from ..support import counts_by_type, publish_all, running, wait_for_counts

pytestmark = pytest.mark.integration


async def test_rejected_attempts_count_and_manual_rescues_are_not_recoveries(
    bus: Bus, analytics_settings: Settings, store: Store
) -> None:
    rejected = (
        Script("R1", "sdxl")
        .submitted(0)
        .failed(1, 1, "b1", FailureClass.MODEL_MISSING, "value_not_in_list: ckpt_name")
        .aborted(2, 1)
    )
    rescued = (
        Script("R2", "sdxl")
        .submitted(0)
        .dispatched(1, 1, "b1")
        .failed(5, 1, "b1", FailureClass.MODEL_MISSING, "value_not_in_list: ckpt_name")
        .aborted(6, 1)
        .other(30, 1, JobRetryRequested, requested_by="op")
        .retried(31, 1, Strategy.RETRY)
        .dispatched(32, 2, "b1")
        .completed(40, 2, "b1")
    )
    events = rejected.events + rescued.events
    async with running(analytics_settings, store):
        await publish_all(bus, events)
        await wait_for_counts(store, counts_by_type(events))
        rows = await store.query(
            "SELECT job_id, attempts, outcome, judged, recovered FROM job_outcomes ORDER BY job_id"
        )
        stats = await fetch_stats(bus, None, detailed=False)
    assert [
        (r["job_id"], r["attempts"], r["outcome"], r["judged"], bool(r["recovered"])) for r in rows
    ] == [
        ("R1", 1, "aborted", "aborted", False),
        ("R2", 2, "completed", "aborted", False),
    ]
    assert (stats["successful_recoveries"], stats["failed_recoveries"]) == (0, 2)
    assert stats["median_attempts"] == pytest.approx(1.5)
