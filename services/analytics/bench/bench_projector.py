"""Bench: events/s through the projector (NATS → decode → row → chDB → ack) next to a raw
clickhouse-connect insert of the same rows into the same embedded store, and the ratio.

Run: ``.venv/bin/python services/analytics/bench/bench_projector.py [--events N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect

from analytics.app import run
from analytics.config import Settings
from analytics.projection import COLUMNS, to_row
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
from cr_client import Bus

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 10_000


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


async def time_projector(settings: Settings, store: Store, count: int) -> float:
    """Seconds for the running service to store `count` already-published events."""
    stop = asyncio.Event()
    baseline = rows_stored()
    started = time.perf_counter()
    service = asyncio.create_task(run(settings, store=store, stop_event=stop))
    while rows_stored() - baseline < count:  # noqa: ASYNC110 - polls an in-process counter
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    await service
    return elapsed


def time_raw_insert(path: str, events: list[AnyEvent]) -> float:
    """Seconds for plain clickhouse-connect inserts of the same rows, same batch size."""
    rows = [to_row(e, "bench", n) for n, e in enumerate(events)]
    client = clickhouse_connect.get_client(interface="chdb", path=path)
    client.command("CREATE DATABASE IF NOT EXISTS bench_raw")
    client.command("CREATE TABLE bench_raw.events AS bench.events")
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        client.insert("bench_raw.events", rows[start : start + BATCH], column_names=list(COLUMNS))
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


async def bench(count: int, workdir: Path) -> None:
    """Publish `count` events, project them, insert them raw, print both rates."""
    server = NatsServer(workdir / "nats").start()
    try:
        bus_settings = BusSettings(url=server.url)
        settings = Settings(nats=bus_settings, chdb_path=str(workdir / "chdb"), database="bench")
        events = synthetic_events(count)
        bus = await Bus.connect(bus_settings)
        await publish(bus, events)
        await bus.close()
        store = Store(StoreConfig(chdb_path=settings.chdb_path, database="bench"))
        await store.open()
        projector_s = await time_projector(settings, store, count)
        await store.close()
        raw_s = await asyncio.to_thread(time_raw_insert, settings.chdb_path, events)
    finally:
        server.stop()
    projected, raw = count / projector_s, count / raw_s
    print(f"events                    {count}")
    print(f"projector (NATS → chDB)   {projected:,.0f} events/s  ({projector_s:.2f} s)")
    print(f"raw clickhouse-connect    {raw:,.0f} rows/s    ({raw_s:.2f} s)")
    print(f"ratio projector / raw     {projected / raw:.2f}")


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as tmp:
        asyncio.run(bench(args.events, Path(tmp)))


if __name__ == "__main__":
    main()
