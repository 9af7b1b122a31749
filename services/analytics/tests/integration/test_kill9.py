"""kill -9 of an analytics process while events flow: after a restart, counts are exact."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.store import Store, StoreConfig
from contracts import BusSettings, subjects
from contracts.codec import AnyEvent
from cr_client import Bus

from ..scripted import scripted_jobs, telemetry_and_control
from ..support import counts_by_type, pending_work, publish_all, stored_counts, wait_until

pytestmark = pytest.mark.integration
MAX_ROUNDS = 60


def start_analytics(
    bus_settings: BusSettings, chdb_path: Path, log: Path
) -> subprocess.Popen[bytes]:
    """``python -m analytics`` on `chdb_path`, small batches so a kill lands mid-stream."""
    env = dict(os.environ)
    env.update(
        CR_NATS_URL=bus_settings.url,
        CR_NATS_ACK_WAIT_S=str(bus_settings.ack_wait_s),
        CR_ANALYTICS_CHDB_PATH=str(chdb_path),
        CR_ANALYTICS_BATCH_MAX_ROWS="40",
        CR_ANALYTICS_BATCH_MAX_SECONDS="0.2",
        CR_ANALYTICS_RETRY_INITIAL_S="0.2",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "analytics"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Analytics processes started by the test, killed if still alive at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def acked(bus: Bus) -> int:
    """Events the analytics consumer has acknowledged so far (its ack floor)."""
    info = await bus.js.consumer_info(subjects.EVENTS_STREAM, subjects.DURABLE_ANALYTICS_EVENTS)
    return int(info.ack_floor.stream_seq if info.ack_floor else 0)


class Publisher:
    """Publishes rounds of jobs and telemetry until told to stop (or `MAX_ROUNDS`)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.published: list[AnyEvent] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        for n in range(MAX_ROUNDS):
            if self.stop.is_set():
                return
            events = scripted_jobs(prefix=f"r{n}-") + telemetry_and_control(prefix=f"r{n}-")
            await publish_all(self.bus, events)
            self.published += events
            await asyncio.sleep(0.05)

    async def count(self) -> int:
        return len(self.published)


async def test_kill_9_mid_run_then_restart_counts_every_event_exactly_once(
    bus: Bus, bus_settings: BusSettings, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    chdb_path, log = tmp_path / "chdb", tmp_path / "analytics.log"
    publisher = Publisher(bus)
    processes.append(start_analytics(bus_settings, chdb_path, log))
    publishing = asyncio.create_task(publisher.run())
    await wait_until(lambda: acked(bus), lambda n: n > 100, timeout=60)
    processes[0].send_signal(signal.SIGKILL)
    processes[0].wait(10)
    at_kill = len(publisher.published)
    await wait_until(publisher.count, lambda n: n > at_kill + 100)  # flowing while it is down
    processes.append(start_analytics(bus_settings, chdb_path, log))
    acked_at_restart = await acked(bus)
    await wait_until(lambda: acked(bus), lambda n: n > acked_at_restart, timeout=60)
    publisher.stop.set()
    await publishing
    await wait_until(lambda: pending_work(bus), lambda n: n == 0, timeout=90)
    processes[1].send_signal(signal.SIGTERM)
    assert processes[1].wait(30) == 0, log.read_text()[-3000:]
    store = Store(StoreConfig(chdb_path=str(chdb_path)))
    try:
        assert await stored_counts(store) == counts_by_type(publisher.published)
    finally:
        await store.close()
