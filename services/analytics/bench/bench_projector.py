"""Bench: events/s through the projector (NATS → decode → row → chDB → ack) next to a raw
clickhouse-connect insert of the same rows into the same embedded store, and the ratio.

The box this runs on is shared and its disk's fsync time moves a lot between minutes, so
the two sides alternate for ``--rounds`` rounds on the same published events (each
projector round on fresh durables and a fresh database: a reused one would drop the repeated
batches by their dedup tokens, and the raw side on a fresh table), and the medians are
compared. The bench's own fixtures are frozen out of the collector, as the service's entry
point freezes what start-up built (`analytics.app.tune_gc`): scanning the 50,000 events the
bench keeps would be charged to the projector. The projector's time runs from the service's
start (connecting and binding included) to its last row stored.

Run: ``.venv/bin/python -m tests.bench.quiet services/analytics/bench/bench_projector.py
[--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import clickhouse_connect
from nats.js.errors import NotFoundError

from analytics.app import DURABLES, run, tune_gc
from analytics.config import Settings
from analytics.projection import COLUMNS, EventRow, to_row
from analytics.projector import ROWS_STORED
from analytics.store import Store, StoreConfig
from comfy_recovery.natsd import NatsServer
from contracts import (
    BusSettings,
    DispatchedPrompt,
    FailureClass,
    FailureClassified,
    FailureEvidence,
    GpuSampled,
    JobDispatched,
    JobFailed,
    Retryability,
    Severity,
)
from contracts.codec import AnyEvent
from contracts.streams import CONSUMERS_BY_NAME
from cr_client import Bus

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 10_000
ROUND_DB = "bench"


def synthetic_events(count: int) -> list[AnyEvent]:
    """A mix of dispatches, failures, classifications and GPU samples."""
    events: list[AnyEvent] = []
    for n in range(count):
        env = {
            "event_id": f"e{n}",
            "job_id": f"j{n // 4}",
            "attempt": 1,
            "occurred_at": T0 + timedelta(milliseconds=n),
            "source": "bench",
        }
        events.append(_event(n % 4, env))
    return events


def _event(kind: int, env: dict[str, Any]) -> AnyEvent:
    evidence = FailureEvidence(surface="execution_error", message="CUDA out of memory")
    if kind == 0:
        prompt = DispatchedPrompt(prompt_id="p")
        return JobDispatched(**env, backend_id="b1", prompts=[prompt], client_id="c")
    if kind == 1:
        return JobFailed(**env, backend_id="b1", evidence=evidence)
    if kind == 2:
        return FailureClassified(
            **env,
            failed_event_id="f",
            failure_class=FailureClass.GPU_OOM,
            error_code="GPU_OUT_OF_MEMORY",
            retryable=True,
            retryability=Retryability.YES,
            severity=Severity.MEDIUM,
            rule="oom",
            evidence=evidence,
        )
    return GpuSampled(**{**env, "job_id": "-"}, backend_id="b1", memory_used=kind)


async def publish(bus: Bus, events: list[AnyEvent]) -> None:
    """Publish in pipelined chunks (each publish still waits for its JetStream ack)."""
    for start in range(0, len(events), 500):
        await asyncio.gather(*(bus.publish(e) for e in events[start : start + 500]))


def rows_stored() -> float:
    """Rows the projector has stored so far, from its own counter (read alone: collecting
    the whole registry, process metrics included, every 10 ms took a fifth of the CPU the
    projector was being timed on)."""
    return sum(
        sample.value
        for metric in ROWS_STORED.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


class Timing(NamedTuple):
    """Wall seconds, and CPU seconds of this process (every thread: the loop, the store's,
    chDB's), of one side of a round."""

    wall_s: float
    cpu_s: float


def clocks() -> Timing:
    """Both clocks now."""
    return Timing(time.perf_counter(), time.process_time())


def since(start: Timing) -> Timing:
    """Both clocks' time since `start`."""
    now = clocks()
    return Timing(now.wall_s - start.wall_s, now.cpu_s - start.cpu_s)


async def time_projector(settings: Settings, count: int) -> Timing:
    """Time for the running service to store `count` already-published events, into a
    fresh database from fresh durables."""
    await forget_durables(settings.nats)
    store = Store(StoreConfig(chdb_path=settings.chdb_path, database=settings.database))
    await store.open()
    stop = asyncio.Event()
    baseline = rows_stored()
    started = clocks()
    service = asyncio.create_task(run(settings, store=store, stop_event=stop))
    while rows_stored() - baseline < count:  # noqa: ASYNC110 - polls an in-process counter
        await asyncio.sleep(0.01)
    elapsed = since(started)
    stop.set()
    await service
    await store.close()
    return elapsed


async def forget_durables(bus_settings: BusSettings) -> None:
    """Delete the analytics durables, so that the next run reads every event again."""
    bus = await Bus.connect(bus_settings)
    for durable in DURABLES:
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_consumer(CONSUMERS_BY_NAME[durable].stream, durable)
    await bus.close()


def time_raw_insert(path: str, rows: list[EventRow], table: str) -> Timing:
    """Time for plain clickhouse-connect inserts of the same rows, same batch size, into
    a fresh table like the projector's (same engine, same fsync settings)."""
    client = clickhouse_connect.get_client(interface="chdb", path=path)
    client.command("CREATE DATABASE IF NOT EXISTS bench_raw")
    client.command(f"CREATE TABLE bench_raw.{table} AS {ROUND_DB}0.events")
    started = clocks()
    for start in range(0, len(rows), BATCH):
        client.insert(f"bench_raw.{table}", rows[start : start + BATCH], column_names=COLUMNS)
    elapsed = since(started)
    client.close()
    return elapsed


async def bench(count: int, rounds: int, workdir: Path) -> None:
    """Publish `count` events, then alternate projector and raw rounds; print the medians."""
    server = NatsServer(workdir / "nats").start()
    try:
        bus_settings = BusSettings(url=server.url)
        events = synthetic_events(count)
        bus = await Bus.connect(bus_settings)
        await publish(bus, events)
        await bus.close()
        rows = [to_row(e, "bench", n) for n, e in enumerate(events)]
        tune_gc()
        projected, raw = [], []
        for n in range(rounds):
            settings = Settings(
                nats=bus_settings, chdb_path=str(workdir / "chdb"), database=f"{ROUND_DB}{n}"
            )
            projected.append(await time_projector(settings, count))
            path = settings.chdb_path
            raw.append(await asyncio.to_thread(time_raw_insert, path, rows, f"r{n}"))
    finally:
        server.stop()
    report(count, projected, raw)


def report(count: int, projector_t: list[Timing], raw_t: list[Timing]) -> None:
    """The medians, each round's figures, CPU per row, and the ratio of the medians (the
    CPU figures move far less with the box's load than the rates do)."""
    projected, raw = [count / t.wall_s for t in projector_t], [count / t.wall_s for t in raw_t]
    cpu_projector = statistics.median(t.cpu_s for t in projector_t) / count * 1e6
    cpu_raw = statistics.median(t.cpu_s for t in raw_t) / count * 1e6
    each = ", ".join(f"{p / r:.2f}" for p, r in zip(projected, raw, strict=True))
    projector, baseline = statistics.median(projected), statistics.median(raw)
    print(f"events                    {count} x {len(raw)} rounds (medians)")
    print(f"projector (NATS → chDB)   {projector:,.0f} events/s  ({_rates(projected)})")
    print(f"raw clickhouse-connect    {baseline:,.0f} rows/s    ({_rates(raw)})")
    print(f"ratio per round           {each}")
    print(f"CPU µs per row            projector {cpu_projector:.1f}, raw {cpu_raw:.1f}")
    print(f"ratio projector / raw     {projector / baseline:.2f}")


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as tmp:
        asyncio.run(bench(args.events, args.rounds, Path(tmp)))


if __name__ == "__main__":
    main()
