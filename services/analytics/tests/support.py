"""Test helpers: fault injection at the clickhouse-connect seam, counting, and waiting."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from clickhouse_connect.driver.exceptions import OperationalError

from analytics.app import run
from analytics.config import Settings
from analytics.store import Store, StoreConfig, connect_client
from contracts import subjects
from contracts.codec import AnyEvent, type_tag
from cr_client.bus import Bus

T = TypeVar("T")
WAIT_S = 45.0


@dataclass
class Outage:
    """The switch of a `FlakyClient`: the store is down, or its replies get lost."""

    down: bool = False
    lose_replies: int = 0
    refused: int = 0


class ClientWrapper:
    """The real clickhouse-connect client behind a test's seam: every attribute not
    overridden is the real client's."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            super().__setattr__(name, value)
        else:
            setattr(self._real, name, value)  # e.g. `database`: the real client's setting


class FlakyClient(ClientWrapper):
    """The real client, failing the way a server does when it is down (OperationalError)."""

    def __init__(self, real: Any, outage: Outage) -> None:
        super().__init__(real)
        self._outage = outage

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_down()
        summary = self._real.insert(*args, **kwargs)
        if self._outage.lose_replies > 0:
            # the rows are stored, but the caller never hears so: like a timeout after commit
            self._outage.lose_replies -= 1
            raise OperationalError("Error executing HTTP request: read timed out (injected)")
        return summary

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_down()
        return self._real.query(*args, **kwargs)

    def _refuse_if_down(self) -> None:
        if self._outage.down:
            self._outage.refused += 1
            raise OperationalError("Error executing HTTP request: connection refused (injected)")


def flaky_store(config: StoreConfig, outage: Outage) -> Store:
    """A real store whose client fails while `outage` says so."""
    return Store(config, connect=lambda cfg: FlakyClient(connect_client(cfg), outage))


def counts_by_type(events: Iterable[AnyEvent]) -> dict[str, int]:
    """Distinct events per type."""
    unique = {e.event_id: e for e in events}
    return dict(Counter(type_tag(type(e)) for e in unique.values()))


async def stored_counts(store: Store) -> dict[str, int]:
    """Rows per event type as the views see them (deduplicated)."""
    rows = await store.query("SELECT type, events FROM event_counts")
    return {r["type"]: int(r["events"]) for r in rows}


async def physical_rows(store: Store) -> int:
    """Rows physically in ``events``, duplicates included."""
    return int((await store.query("SELECT count() AS n FROM events"))[0]["n"])


async def publish_all(bus: Bus, events: Iterable[AnyEvent]) -> None:
    """Publish every event (with its Nats-Msg-Id)."""
    for event in events:
        await bus.publish(event)


async def wait_until(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = WAIT_S
) -> T:
    """Poll `probe` until `done(value)` or the timeout; return the last value."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        value = await probe()
    return value


async def wait_for_counts(store: Store, expected: dict[str, int]) -> dict[str, int]:
    """The stored counts, once they equal `expected` (or at the timeout)."""
    return await wait_until(lambda: stored_counts(store), lambda c: c == expected)


async def pending_work(bus: Bus) -> int:
    """Messages not yet acked by the analytics consumers (pending + in flight)."""
    total = 0
    for stream, durable in (
        (subjects.EVENTS_STREAM, subjects.DURABLE_ANALYTICS_EVENTS),
        (subjects.TELEMETRY_STREAM, subjects.DURABLE_ANALYTICS_TELEMETRY),
    ):
        info = await bus.js.consumer_info(stream, durable)
        total += int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    return total


@asynccontextmanager
async def running(settings: Settings, store: Store | None = None) -> AsyncIterator[None]:
    """The analytics service (`app.run`) in this process, stopped on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, store=store, stop_event=stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
