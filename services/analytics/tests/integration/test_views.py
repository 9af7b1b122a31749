"""Scripted jobs through NATS and the projector: the views equal values computed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.config import Settings
from analytics.stats_client import fetch_stats, format_stats
from analytics.store import Store
from cr_client import Bus

from ..scripted import EXPECTED, T0, scripted_jobs, telemetry_and_control
from ..support import counts_by_type, publish_all, running, wait_for_counts
from .views_check import approx_rates, assert_views_match, rates_by

pytestmark = pytest.mark.integration


async def test_views_match_recovery_rates_and_mttr_computed_by_hand(
    bus: Bus, analytics_settings: Settings, store: Store
) -> None:
    events = scripted_jobs() + telemetry_and_control()
    async with running(analytics_settings, store):
        await publish_all(bus, events)
        counts = await wait_for_counts(store, counts_by_type(events))
    assert counts == counts_by_type(events)
    await assert_views_match(store)


async def test_stats_request_reply_answers_seed_shape_and_tables(
    bus: Bus, analytics_settings: Settings, store: Store
) -> None:
    events = scripted_jobs()
    async with running(analytics_settings, store):
        await publish_all(bus, events)
        await wait_for_counts(store, counts_by_type(events))
        stats = await fetch_stats(bus, None, detailed=True)
        later = await fetch_stats(bus, T0 + timedelta(hours=1), detailed=False)
    assert (stats["total_errors"], stats["successful_recoveries"], stats["failed_recoveries"]) == (
        10,
        2,
        2,
    )
    assert stats["recovery_rate"] == pytest.approx(0.5)
    assert stats["error_distribution"] == EXPECTED["error_distribution"]
    assert rates_by(stats["by_class"], "failure_class") == approx_rates(EXPECTED["by_class"])
    assert rates_by(stats["by_backend"], "backend") == approx_rates(EXPECTED["by_backend"])
    assert rates_by(stats["by_strategy"], "strategy") == approx_rates(EXPECTED["by_strategy"])
    assert (later["total_errors"], later["recovery_rate"], later["by_class"]) == (0, 0.0, [])
    assert "recovery rate          50.0%" in format_stats(stats, detailed=True)
