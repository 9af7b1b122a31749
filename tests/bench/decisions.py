"""Decision latency: job.failed published → recovery.decided received, at a steady rate,
through the real classifier and recovery services (in-process) on a real nats-server.

Besides the latency it prints its two stages (job.failed → failure.classified, then →
recovery.decided), the CPU this process used, the rate actually offered, and how many
messages the server stored (each fsynced) per failure: where the time goes."""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from classifier.app import run as run_classifier
from classifier.config import Settings as ClassifierSettings
from comfy_recovery.demo import base_workflow
from comfy_recovery.natsd import NatsServer
from contracts import (
    BusSettings,
    DispatchedPrompt,
    FailureEvidence,
    JobDispatched,
    JobFailed,
    JobSubmitted,
    RecoveryDecided,
    decode,
    prompt_id_for,
    utcnow,
)
from contracts import subjects as subj
from cr_client import Bus
from recovery.app import run as run_recovery
from recovery.config import Settings as RecoverySettings

RATE = 100.0
N = 400
CLASSIFIED: dict[str, float] = {}
"""Seconds from each job.failed (by job) to its failure.classified (the first stage)."""
DECIDED: dict[str, float] = {}
"""Seconds from each job.failed (by job) to its recovery.decided (the whole path)."""
STORED: Counter[str] = Counter()
"""Messages each stream stored while the failures flowed."""
PHASE: dict[str, float] = {}
"""Wall and CPU seconds of this process (load, classifier and recovery on one event loop)
from the first failure published to the last decision received."""
SET_UP_CHUNK = 250
CATCH_UP = (subj.DURABLE_CLASSIFIER, subj.DURABLE_RECOVERY)
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity; 20.1 GiB already allocated; 1.02 GiB free; 21.0 GiB reserved in total by PyTorch)"  # noqa: E501


def job_events(i: int) -> tuple[JobSubmitted, JobDispatched, JobFailed]:
    job, at = f"lat-{i}", utcnow()
    graph = copy.deepcopy(base_workflow())
    graph["5"]["inputs"]["batch_size"] = 8
    common = {"job_id": job, "occurred_at": at, "source": "bench"}
    submitted = JobSubmitted(event_id=f"{job}-s", workflow=graph, **common)  # type: ignore[arg-type]
    pid = prompt_id_for(job, 1)
    dispatched = JobDispatched(
        event_id=f"{job}-d",
        attempt=1,
        backend_id="b0",
        client_id="c",
        prompts=[DispatchedPrompt(prompt_id=pid)],
        **common,
    )  # type: ignore[arg-type]
    failed = JobFailed(
        event_id=f"{job}-f",
        attempt=1,
        backend_id="b0",
        prompt_id=pid,
        evidence=FailureEvidence(
            surface="execution_error",
            message=OOM,
            exception_type="torch.OutOfMemoryError",
            node_id="3",
            node_type="KSampler",
        ),
        **common,
    )  # type: ignore[arg-type]
    return submitted, dispatched, failed


async def caught_up(bus: Bus, timeout: float = 600.0) -> None:
    """Wait until classifier and recovery have acked everything published so far."""
    async with asyncio.timeout(timeout):
        while True:
            infos = [await bus.js.consumer_info(subj.EVENTS_STREAM, n) for n in CATCH_UP]
            if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
                return
            await asyncio.sleep(0.1)


async def set_up(bus: Bus, batches: list[tuple[JobSubmitted, JobDispatched, JobFailed]]) -> None:
    """Publish every job's submission, then every dispatch, a chunk's publishes at once."""
    for first in range(0, len(batches), SET_UP_CHUNK):
        chunk = batches[first : first + SET_UP_CHUNK]
        await asyncio.gather(*(bus.publish(submitted) for submitted, _, _ in chunk))
        await asyncio.gather(*(bus.publish(dispatched) for _, dispatched, _ in chunk))


async def offer(bus: Bus, failures: list[JobFailed], rate: float, sent: dict[str, float]) -> None:
    """Publish `failures` at `rate`, each stamped in `sent` as it leaves. The publishes are
    not awaited one by one: each waits for an fsynced ack, which on a loaded box would hold
    the offered rate to one publish per round-trip (about 100/s) instead of `rate`."""
    start = time.perf_counter()
    publishes = []
    for i, failed in enumerate(failures):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent[failed.event_id] = time.perf_counter()
        publishes.append(asyncio.create_task(bus.publish(failed)))
    await asyncio.gather(*publishes)


async def stored_counts(bus: Bus) -> Counter[str]:
    """Messages the server has stored so far, by stream (KV buckets included): each one is
    written and fsynced, so with `sync_interval: always` their rate is bound by the disk."""
    return Counter({str(i.config.name): int(i.state.last_seq) for i in await bus.js.streams_info()})


async def measure(url: str, rate: float = RATE, count: int = N, lanes: int = 1) -> list[float]:
    bus_settings = BusSettings(url=url)
    bus = await Bus.connect(bus_settings)
    stop = asyncio.Event()
    services = [
        asyncio.create_task(
            run_classifier(ClassifierSettings(nats=bus_settings, log_level="WARNING"), stop)
        ),
        asyncio.create_task(
            run_recovery(
                RecoverySettings(nats=bus_settings, log_level="WARNING", lanes=lanes), stop
            )
        ),
    ]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def on_decision(msg) -> None:  # type: ignore[no-untyped-def]
        event = decode(msg.data)
        if isinstance(event, RecoveryDecided):
            failed_id = f"{event.job_id}-f"
            if failed_id in sent:
                latencies.append(time.perf_counter() - sent.pop(failed_id))
                DECIDED[event.job_id] = latencies[-1]
                if len(latencies) == count:
                    done.set()

    async def on_classified(msg) -> None:  # type: ignore[no-untyped-def]
        job = msg.subject.rsplit(".", 1)[-1]
        if f"{job}-f" in sent:
            CLASSIFIED[job] = time.perf_counter() - sent[f"{job}-f"]

    sub = await bus.nc.subscribe(subj.all_of(subj.RECOVERY_DECIDED), cb=on_decision)
    sub_classified = await bus.nc.subscribe(subj.all_of(subj.FAILURE_CLASSIFIED), cb=on_classified)
    batches = [job_events(i) for i in range(count)]
    await set_up(bus, batches)
    await caught_up(bus)  # services up and done with the set-up events
    start, cpu, stored = time.perf_counter(), time.process_time(), await stored_counts(bus)
    await offer(bus, [failed for _, _, failed in batches], rate, sent)
    PHASE["offered"] = time.perf_counter() - start
    # generous: the serial lane may manage well under 100 events/s on a loaded box
    await asyncio.wait_for(done.wait(), 120 + count / 20)
    PHASE.update(wall=time.perf_counter() - start, cpu=time.process_time() - cpu)
    STORED.update(await stored_counts(bus) - stored)
    PHASE["stored"] = STORED.total()
    await sub.unsubscribe()
    await sub_classified.unsubscribe()
    stop.set()
    await asyncio.gather(*services)
    await bus.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=RATE, help="failures per second")
    parser.add_argument("--count", type=int, default=N, help="failures in the run")
    parser.add_argument(
        "--lanes", type=int, default=1, help="recovery's CR_RECOVERY_LANES (one instance)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp)).start()
        try:
            started = time.perf_counter()
            latencies = asyncio.run(measure(server.url, args.rate, args.count, args.lanes))
        finally:
            server.stop()
    report(args, sorted(x * 1000 for x in latencies), time.perf_counter() - started)


def report(args: argparse.Namespace, ms: list[float], took: float) -> None:
    """Print the latency, its two stages, and what the process and the server did."""
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(
        f"decision latency job.failed → recovery.decided at {args.rate:.0f} failures/s, "
        f"{len(ms)} failures (classifier + recovery with {args.lanes} lane(s), real nats-server, "
        "sync always):"
    )
    print(f"  p50 {statistics.median(ms):7.1f} ms   p99 {p99:7.1f} ms   max {ms[-1]:7.1f} ms")
    classified = [CLASSIFIED[job] for job in DECIDED if job in CLASSIFIED]
    decided = [DECIDED[job] - CLASSIFIED[job] for job in DECIDED if job in CLASSIFIED]
    print(f"  of which job.failed → failure.classified (classifier) {stage(classified)}")
    print(f"  and failure.classified → recovery.decided (recovery)   {stage(decided)}")
    print(
        f"  this process (load + classifier + recovery, one event loop) used "
        f"{PHASE['cpu']:.1f} CPU-s in the {PHASE['wall']:.1f} s the failures took "
        f"(offered in {PHASE['offered']:.1f} s: {len(ms) / PHASE['offered']:.0f}/s)"
    )
    per_stream = ", ".join(f"{name} {n / len(ms):.1f}" for name, n in STORED.most_common())
    print(
        f"  nats-server stored {PHASE['stored']:.0f} messages meanwhile "
        f"({PHASE['stored'] / len(ms):.1f} a failure, {PHASE['stored'] / PHASE['wall']:.0f}/s: "
        f"{per_stream})"
    )
    print(f"  (run took {took:.1f} s; load average {load():.1f})")


def stage(seconds: list[float]) -> str:
    """One stage's p50 and p99 in ms (the two parts of each decision's latency)."""
    if not seconds:
        return "not seen"
    ms = sorted(x * 1000 for x in seconds)
    return f"p50 {statistics.median(ms):7.1f} ms   p99 {ms[int(len(ms) * 0.99) - 1]:7.1f} ms"


def load() -> float:
    """The 1-minute load average: these figures move with it on a shared box."""
    return os.getloadavg()[0]


if __name__ == "__main__":
    main()
