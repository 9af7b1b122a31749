"""The ClickHouse-server path: the same service code against a real server (testcontainers).

Skipped, with the reason, when no Docker engine answers; the embedded path always runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from analytics.app import store_config
from analytics.config import Settings
from analytics.store import Store
from cr_client import Bus

from ..scripted import scripted_jobs, telemetry_and_control
from ..support import counts_by_type, publish_all, running, wait_for_counts
from .views_check import assert_views_match

pytestmark = pytest.mark.integration


def docker_unavailable() -> str | None:
    """Why Docker cannot be used here, or None when an engine answers."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no engine to test against
        return f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:120]})"
    return None


@pytest.fixture(scope="module")
def clickhouse_server() -> Iterator[Any]:
    """A ClickHouse server container, for this module only."""
    reason = docker_unavailable()
    if reason is not None:
        pytest.skip(f"ClickHouse-server path needs Docker: {reason}")
    from testcontainers.community.clickhouse import ClickHouseContainer

    with ClickHouseContainer(
        "clickhouse/clickhouse-server:latest", username="cr", password="secret"
    ) as server:
        yield server


@pytest.fixture
async def server_settings(analytics_settings: Settings, clickhouse_server: Any) -> Settings:
    """Settings that point the store at the container's HTTP port."""
    return analytics_settings.model_copy(
        update={
            "interface": "http",
            "host": clickhouse_server.get_container_host_ip(),
            "port": int(clickhouse_server.get_exposed_port(8123)),
            "username": "cr",
            "password": SecretStr("secret"),
            "database": "cr_test",
        }
    )


@pytest.fixture
async def server_store(server_settings: Settings) -> AsyncIterator[Store]:
    """The store on the server."""
    store = Store(store_config(server_settings))
    yield store
    await store.close()


async def test_server_path_projects_and_views_match_hand_computed_values(
    bus: Bus, server_settings: Settings, server_store: Store
) -> None:
    events = scripted_jobs() + telemetry_and_control()
    async with running(server_settings, server_store):
        await publish_all(bus, events)
        counts = await wait_for_counts(server_store, counts_by_type(events))
    assert counts == counts_by_type(events)
    await assert_views_match(server_store)
