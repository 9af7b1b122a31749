"""Repository-wide fixtures: a real nats-server with JetStream, cleaned between tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.js.errors import BucketNotFoundError, NotFoundError

from contracts import Bus, BusSettings
from contracts import subjects as subj
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


async def _purge_everything(bus: Bus) -> None:
    for stream in (subj.EVENTS_STREAM, subj.TELEMETRY_STREAM, subj.DEADLETTER_STREAM):
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_stream(stream)
    for bucket in (
        subj.KV_JOBS,
        subj.KV_BACKENDS,
        subj.KV_POLICY,
        subj.KV_RULES,
        subj.KV_SNAPSHOTS,
        subj.KV_PROMPTS,
    ):
        with contextlib.suppress(NotFoundError, BucketNotFoundError):
            await bus.js.delete_key_value(bucket)


@pytest.fixture
async def bus(bus_settings: BusSettings) -> AsyncIterator[Bus]:
    """A connected bus on clean streams created by production's `ensure`."""
    cleaner = await Bus.connect(bus_settings, ensure=False)
    await _purge_everything(cleaner)
    await cleaner.close()
    connected = await Bus.connect(bus_settings)
    yield connected
    await connected.close()
    await asyncio.sleep(0)


pytest_plugins = ["tests.simulator.pytest_plugin"]
