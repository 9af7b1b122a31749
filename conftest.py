"""Repository-wide fixtures: a real nats-server with JetStream, cleaned between tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from contracts import BusSettings
from cr_client import Bus
from tests.support.cleanup import purge_everything
from tests.support.natsd import NatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server -js for the session (file store, sync_interval: always)."""
    server = NatsServer(Path(tmp_path_factory.mktemp("nats")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bus_settings(nats_server: NatsServer) -> BusSettings:
    """Settings that point at the session's server, with short waits for tests."""
    return BusSettings(url=nats_server.url, ack_wait_s=5, publish_timeout_s=3)


@pytest.fixture
async def bus(bus_settings: BusSettings) -> AsyncIterator[Bus]:
    """A connected bus on clean streams created by production's `ensure`."""
    cleaner = await Bus.connect(bus_settings, ensure=False)
    await purge_everything(cleaner)
    await cleaner.close()
    connected = await Bus.connect(bus_settings)
    yield connected
    await connected.close()
    await asyncio.sleep(0)


pytest_plugins = ["comfysim.pytest_plugin"]
