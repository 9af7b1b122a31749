"""Our publish + consume path (envelope, codec, dedup header, explicit ack) next to raw
nats-py JetStream publish and pull-consume, same server, same stream settings."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from comfy_recovery.natsd import NatsServer
from contracts import BusSettings, FailureEvidence, JobFailed, utcnow
from contracts import subjects as subj
from contracts.codec import AnyEvent, encode
from cr_client import Bus
from cr_runtime import Consumer
from cr_runtime.consumer import Delivery
from tests.support.cleanup import purge_everything

N = 3000


def events(tag: str) -> list[JobFailed]:
    evidence = FailureEvidence(
        surface="execution_error",
        exception_type="torch.OutOfMemoryError",
        message="CUDA out of memory. Tried to allocate 2.00 GiB",
        node_id="3",
    )
    return [
        JobFailed(
            event_id=f"{tag}-{i}",
            job_id=f"job-{i}",
            attempt=1,
            occurred_at=utcnow(),
            source="bench",
            evidence=evidence,
        )
        for i in range(N)
    ]


async def raw_path(bus: Bus) -> tuple[float, float]:
    """Pre-encoded bytes, js.publish with the dedup header, pull fetch 64 + ack."""
    payloads = [
        (subj.per_job(subj.JOB_FAILED, e.job_id), encode(e), e.event_id) for e in events("raw")
    ]
    started = time.perf_counter()
    for subject, data, msg_id in payloads:
        await bus.js.publish(subject, data, headers={subj.HDR_MSG_ID: msg_id})
    published = time.perf_counter() - started
    sub = await bus.js.pull_subscribe_bind(
        durable=subj.DURABLE_CLASSIFIER, stream=subj.EVENTS_STREAM
    )
    started, got = time.perf_counter(), 0
    while got < N:
        for msg in await sub.fetch(64, timeout=5):
            await msg.ack()
            got += 1
    consumed = time.perf_counter() - started
    await sub.unsubscribe()
    return N / published, N / consumed


async def our_path(bus: Bus) -> tuple[float, float]:
    """Bus.publish (subject from the event, encode, Nats-Msg-Id) and Consumer (decode, ack)."""
    batch = events("ours")
    started = time.perf_counter()
    for event in batch:
        await bus.publish(event)
    published = time.perf_counter() - started
    done = asyncio.Event()
    count = 0

    async def handle(event: AnyEvent, delivery: Delivery) -> None:
        nonlocal count
        count += 1
        if count == N:
            done.set()

    consumer = Consumer(bus, subj.DURABLE_CLASSIFIER, handle, batch=64)
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    await done.wait()
    consumed = time.perf_counter() - started
    consumer.stop()
    await task
    return N / published, N / consumed


async def measure(path_fn, url: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    settings = BusSettings(url=url)
    bus = await Bus.connect(settings, ensure=False)
    await purge_everything(bus)
    await bus.ensure()
    try:
        return await path_fn(bus)
    finally:
        await bus.close()


async def run(rounds: int = 3) -> list[str]:
    """Alternate raw and ours `rounds` times on one server; report the medians."""
    raw_runs, our_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp)).start()
        try:
            for _ in range(rounds):
                raw_runs.append(await measure(raw_path, server.url))
                our_runs.append(await measure(our_path, server.url))
        finally:
            server.stop()
    lines = [
        f"bus: {N} events x {rounds} alternating rounds, file storage, "
        "sync_interval: always (medians)"
    ]
    for i, label in enumerate(("publish (acked)", "pull-consume + ack")):
        r = statistics.median(x[i] for x in raw_runs)
        o = statistics.median(x[i] for x in our_runs)
        lines.append(f"  {label:<20} raw {r:9.0f}/s   ours {o:9.0f}/s   ratio {o / r:5.2f}")
    return lines


def main() -> None:
    for line in asyncio.run(run()):
        print(line)


if __name__ == "__main__":
    main()
