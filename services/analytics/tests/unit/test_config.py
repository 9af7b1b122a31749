"""Settings from the environment, and the value object the store gets."""

from __future__ import annotations

import pytest

from analytics.app import store_config
from analytics.config import Settings
from analytics.store import StoreConfig


def test_defaults_are_embedded_chdb_with_ten_thousand_row_batches() -> None:
    settings = Settings()
    assert (settings.interface, settings.chdb_path) == ("chdb", ".data/analytics")
    assert (settings.batch_max_rows, settings.batch_max_seconds) == (10_000, 1.0)
    assert settings.health_port is None


def test_server_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "CR_ANALYTICS_INTERFACE": "http",
        "CR_ANALYTICS_HOST": "ch.internal",
        "CR_ANALYTICS_PORT": "8443",
        "CR_ANALYTICS_USERNAME": "cr",
        "CR_ANALYTICS_PASSWORD": "s3cret",
        "CR_ANALYTICS_SECURE": "true",
        "CR_NATS_URL": "nats://n1:4222",
    }.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert "s3cret" not in repr(settings)
    assert settings.nats.url == "nats://n1:4222"
    assert store_config(settings) == StoreConfig(
        interface="http",
        chdb_path=".data/analytics",
        host="ch.internal",
        port=8443,
        username="cr",
        password="s3cret",
        database="comfy_recovery",
        secure=True,
    )
