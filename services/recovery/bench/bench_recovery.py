"""Benchmarks of recovery's in-process parts: rebuilding the state from 100,000 events
(decode + fold, as at start), and decide() throughput and latency.

    .venv/bin/python services/recovery/bench/bench_recovery.py [--events 100000] [--nats]

``--nats`` also times the real start-up replay: a temporary nats-server, the events
published to it, then `recovery.app.rebuild` reading them back.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from contracts import codec  # noqa: E402
from contracts.codec import AnyEvent  # noqa: E402
from contracts.job import JobProgressed  # noqa: E402
from contracts.policy import RecoveryPolicy  # noqa: E402
from contracts.taxonomy import FailureClass  # noqa: E402
from recovery.decide import decide  # noqa: E402
from recovery.projection import Projection, bulk_fold  # noqa: E402
from services.recovery.tests.builders import (  # noqa: E402
    GIB,
    GRAPHS,
    T0,
    backend,
    classified,
    completed,
    dispatched,
    failed,
    failed_state,
    fold,
    inventory,
    submitted,
)

FARM = inventory(
    backend("gpu-a", vram_gib=16), backend("gpu-b", vram_gib=24), backend("gpu-c", vram_gib=48)
)
OOM = {
    "requested_bytes": 6 * GIB,
    "allocated_bytes": 12 * GIB,
    "total_bytes": 16 * GIB,
    "free_bytes": GIB,
}
MIX = [
    FailureClass.GPU_OOM,
    FailureClass.BACKEND_ERROR,
    FailureClass.MODEL_MISSING,
    FailureClass.TIMEOUT,
]
EVENTS_PER_JOB = 10


def progress(job_id: str, percent: float) -> JobProgressed:
    return JobProgressed(
        event_id=f"{job_id}:progress:{percent}",
        job_id=job_id,
        attempt=1,
        occurred_at=T0 + timedelta(seconds=1),
        source="bench",
        backend_id="gpu-a",
        prompt_id=f"{job_id}-p1-0",
        percent=percent,
    )


def job_events(index: int) -> Iterator[AnyEvent]:
    """Ten events of one job: submitted, dispatched, 3 progress, failed, classified,
    decided, dispatched again, completed."""
    job_id = f"job-{index}"
    graph = GRAPHS[sorted(GRAPHS)[index % len(GRAPHS)]](batch=1 + index % 4)
    cls = MIX[index % len(MIX)]
    failure = classified(cls, job_id=job_id, features=OOM if cls is FailureClass.GPU_OOM else {})
    head = [
        submitted(job_id, graph),
        dispatched(job_id),
        *(progress(job_id, p) for p in (25.0, 50.0, 75.0)),
    ]
    head += [failed(job_id), failure]
    state = fold(*head)
    decision = decide(state, failure, RecoveryPolicy(), FARM, T0, random.Random(index)).to_event(
        "bench"
    )
    dispatch = decision.actions[-1]
    where = getattr(dispatch, "backend_hint", None) or "gpu-a"
    yield from head
    yield decision
    yield dispatched(job_id, attempt=2, backend_id=where)
    yield completed(job_id, attempt=2, backend_id=where)


def encoded_events(count: int) -> list[bytes]:
    out: list[bytes] = []
    for index in range(count // EVENTS_PER_JOB):
        out.extend(codec.encode(event) for event in job_events(index))
    return out


def bench_rebuild(encoded: list[bytes]) -> tuple[float, int]:
    """Seconds to decode and fold every event; the number of jobs rebuilt."""
    projection = Projection()
    started = time.perf_counter()
    with bulk_fold():
        for data in encoded:
            projection.apply(codec.decode(data))
    return time.perf_counter() - started, len(projection.jobs)


def bench_decide(seconds: float = 3.0) -> tuple[float, float, float]:
    """decide() calls per second, and the p50 / p99 latency of one call (ms)."""
    cases = []
    for index in range(400):
        cls = MIX[index % len(MIX)]
        failure = classified(cls, features=OOM if cls is FailureClass.GPU_OOM else {})
        graph = GRAPHS[sorted(GRAPHS)[index % len(GRAPHS)]](batch=1 + index % 4)
        cases.append((failed_state(failure, graph), failure))
    latencies: list[float] = []
    policy, rng = RecoveryPolicy(allow_degradation=True), random.Random(0)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for state, failure in cases:
            started = time.perf_counter()
            decide(state, failure, policy, FARM, T0, rng)
            latencies.append(time.perf_counter() - started)
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / sum(latencies), cuts[49] * 1000, cuts[98] * 1000


async def bench_nats_rebuild(encoded: list[bytes]) -> tuple[float, float]:
    """Seconds `recovery.app.rebuild` takes on a real nats-server holding `encoded`: from
    the stream alone, then from a snapshot of every job (plus an empty tail)."""
    from comfy_recovery.natsd import NatsServer
    from contracts import subjects
    from contracts.settings import BusSettings
    from cr_client.bus import Bus
    from recovery.adapters import event_log
    from recovery.adapters.snapshots import SnapshotStore
    from recovery.app import rebuild

    with tempfile.TemporaryDirectory() as store_dir:
        server = NatsServer(Path(store_dir))
        server.start()
        try:
            bus = await Bus.connect(BusSettings(url=server.url))
            for data in encoded:
                event = codec.decode(data)
                await bus.js.publish_async(
                    codec.subject_for(event), data, headers={subjects.HDR_MSG_ID: event.event_id}
                )
            await bus.js.publish_async_completed()
            started = time.perf_counter()
            projection = await rebuild(bus)
            full = time.perf_counter() - started
            snapshots = await SnapshotStore.open(bus)
            await snapshots.save(projection.jobs.values(), await event_log.last_seq(bus))
            started = time.perf_counter()
            await rebuild(bus, snapshots)
            from_snapshot = time.perf_counter() - started
            await bus.close()
            return full, from_snapshot
        finally:
            server.stop()


def main() -> None:
    """Print the rebuild time for N events and decide() throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--nats", action="store_true", help="also time the replay from nats-server")
    args = parser.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    encoded = encoded_events(args.events)
    seconds, jobs = bench_rebuild(encoded)
    print(
        f"rebuild (decode + fold): {len(encoded)} events, {jobs} jobs in {seconds:.2f} s "
        f"({len(encoded) / seconds:,.0f} events/s)"
    )
    rate, p50, p99 = bench_decide()
    print(f"decide(): {rate:,.0f} decisions/s (one core); p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    if args.nats:
        full, from_snapshot = asyncio.run(bench_nats_rebuild(encoded))
        print(f"rebuild from nats-server, whole stream (replay + fold): {full:.2f} s")
        print(f"rebuild from nats-server, KV snapshot of every job: {from_snapshot:.2f} s")


if __name__ == "__main__":
    main()
