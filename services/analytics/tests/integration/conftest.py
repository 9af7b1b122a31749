"""Fixtures: analytics settings on a temporary chDB path, and the service run in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from analytics.app import store_config
from analytics.config import Settings
from analytics.store import Store
from contracts import BusSettings


@pytest.fixture
def analytics_settings(bus_settings: BusSettings, tmp_path: Path) -> Settings:
    """Small batches and short nak delays, a fresh chDB directory per test."""
    return Settings(
        nats=bus_settings,
        chdb_path=str(tmp_path / "chdb"),
        batch_max_seconds=0.2,
        retry_initial_s=0.1,
        retry_max_s=0.5,
    )


@pytest.fixture
async def store(analytics_settings: Settings) -> AsyncIterator[Store]:
    """The real embedded store, closed after the test."""
    opened = Store(store_config(analytics_settings))
    await opened.open()
    yield opened
    await opened.close()
