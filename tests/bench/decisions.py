"""Decision latency: job.failed published → recovery.decided received, at a steady rate,
through the real classifier and recovery services (in-process) on a real nats-server."""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import statistics
import tempfile
import time
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
CLASSIFIED: list[float] = []
"""Seconds from each job.failed to its failure.classified (the first of the two stages)."""
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
                if len(latencies) == count:
                    done.set()

    async def on_classified(msg) -> None:  # type: ignore[no-untyped-def]
        job = msg.subject.rsplit(".", 1)[-1]
        if f"{job}-f" in sent:
            CLASSIFIED.append(time.perf_counter() - sent[f"{job}-f"])

    sub = await bus.nc.subscribe(subj.all_of(subj.RECOVERY_DECIDED), cb=on_decision)
    sub_classified = await bus.nc.subscribe(subj.all_of(subj.FAILURE_CLASSIFIED), cb=on_classified)
    batches = [job_events(i) for i in range(count)]
    for submitted, dispatched, _ in batches:
        await bus.publish(submitted)
        await bus.publish(dispatched)
    await caught_up(bus)  # services up and done with the set-up events
    start = time.perf_counter()
    for i, (_, _, failed) in enumerate(batches):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent[failed.event_id] = time.perf_counter()
        await bus.publish(failed)
    # generous: the serial lane may manage well under 100 events/s on a loaded box
    await asyncio.wait_for(done.wait(), 120 + count / 20)
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
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(
        f"decision latency job.failed → recovery.decided at {args.rate:.0f} failures/s, "
        f"{len(ms)} failures (classifier + recovery with {args.lanes} lane(s), real nats-server, "
        "sync always):"
    )
    print(f"  p50 {statistics.median(ms):7.1f} ms   p99 {p99:7.1f} ms   max {ms[-1]:7.1f} ms")
    stage = statistics.median(CLASSIFIED) * 1000 if CLASSIFIED else float("nan")
    print(f"  of which job.failed → failure.classified (classifier) p50 {stage:7.1f} ms")
    print(f"  (run took {time.perf_counter() - started:.1f} s; load average {load():.1f})")


def load() -> float:
    """The 1-minute load average: these figures move with it on a shared box."""
    return os.getloadavg()[0]


if __name__ == "__main__":
    main()
