"""How many jobs per second the whole loop sustains, and what bounds it.

A real nats-server (sync_interval: always) and the five services as processes, started and
stopped by the `Stack` of `comfy-recovery up`, in front of the simulator with many fast
backends (a process of its own, no faults). Jobs go in through `JobClient.submit` at a
ramped rate; a plain NATS subscription to ``job.dispatched``, ``job.completed`` and
``job.failed`` times each one. A step is sustained when every job completes, none fails,
p99 submit→completed stays within the limit and the loop keeps up; then a run at half the
sustained rate gives p50/p99. The bottleneck is named from which stage's latency grew, each
process's CPU and runqueue wait (``/proc/<pid>/stat``, ``schedstat``), the box's CPU and the
consumers' backlogs (JetStream consumer info): `tests.bench.loop_figures`. ``--scale-out``
runs the ramp on one instance of each service, then on ``up --instances 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from nats.errors import Error as NatsError

from comfy_recovery.campaign.ours import wait_ready
from comfy_recovery.natsd import free_port, free_port_block
from comfy_recovery.procs import Child, end_process, read_simulator_urls, spawn_module
from comfy_recovery.stack import SERVICES, Stack, StackConfig
from contracts import BusSettings, subjects
from cr_client import JobClient
from tests.bench.loop_figures import (
    LATENCY_LIMIT_S,
    LOAD_GENERATOR,
    Evidence,
    Step,
    bottleneck,
    box_shares,
    box_ticks,
    cpu_seconds,
    half_line,
    next_rate,
    shares,
    step_line,
    sustained,
    verdict,
    wait_seconds,
)
from tests.bench.loop_tracker import STEPS, Tracker

BACKENDS = 8
STEP_TIME_S = 0.001
STEP_S = 10.0
HALF_S = 15.0
CEILING = 640.0
DRAIN_S = 60.0


@dataclass
class Rig:
    """The running loop: the stack, the simulator process and a client."""

    stack: Stack
    simulator: Child
    client: JobClient

    def pids(self) -> dict[str, int]:
        """Every process of the loop by name, the load generator included."""
        return {
            **self.stack.children(),
            "simulator": self.simulator.pid,
            LOAD_GENERATOR: os.getpid(),
        }


async def _echo(proc: Child) -> None:
    """Keep a child's pipe drained (its lines go to this process's stderr, the bench log)."""
    assert proc.stdout is not None
    async for line in proc.stdout:
        print(line.decode(errors="replace").rstrip(), file=sys.stderr)


@contextlib.asynccontextmanager
async def running_loop(scratch: Path, instances: int = 1) -> AsyncIterator[Rig]:
    """The simulator, then the stack on free ports in `scratch`; everything stopped on exit
    (failure and cancellation included)."""
    args = ("--backends", str(BACKENDS), "--step-time", str(STEP_TIME_S))
    simulator = await spawn_module("comfysim", *args)
    echo: asyncio.Task[None] | None = None
    try:
        urls = await read_simulator_urls(simulator, BACKENDS)
        echo = asyncio.create_task(_echo(simulator))
        stack = Stack(
            stack_config(scratch, ",".join(urls), instances),
            echo=True,  # stderr: the bench's log
        )
        try:
            await stack.start()
            await wait_ready(stack)
            client = await JobClient.connect(BusSettings(url=stack.nats_url), source="bench")
            try:
                yield Rig(stack, simulator, client)
            finally:
                await client.close()
        finally:
            await stack.stop()
    finally:
        await end_process(simulator, 10)
        if echo is not None:
            echo.cancel()


def stack_config(scratch: Path, urls: str, instances: int) -> StackConfig:
    """The stack of `comfy-recovery up` on free ports, NVML off (no GPU here)."""
    extra = {"CR_SUBMITTER_API_PORT": str(free_port()), "CR_MONITOR_NVML": "false"}
    return StackConfig(
        data_dir=scratch / "stack",
        nats_port=free_port(),
        comfyui_urls=urls,
        health_base_port=free_port_block(len(SERVICES) * instances),
        extra_env=extra,
        instances=instances,
    )


def read_cpu(pids: dict[str, int]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds so far each live process ran on a CPU, and waited for one."""
    ran, waited = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for name, pid in pids.items():
        with contextlib.suppress(OSError, ValueError):
            ran[name] = cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), tick)
            waited[name] = wait_seconds(Path(f"/proc/{pid}/schedstat").read_text())
    return ran, waited


async def sample_pending(rig: Rig, into: dict[str, int], every_s: float = 1.0) -> None:
    """Keep the largest backlog (pending + unacked) seen per durable of the events stream."""
    js = rig.client.bus.nc.jetstream()
    while True:
        with contextlib.suppress(NatsError, TimeoutError):  # a slow answer skips a sample
            for info in await js.consumers_info(subjects.EVENTS_STREAM):
                backlog = (info.num_pending or 0) + (info.num_ack_pending or 0)
                name = info.name or "?"
                into[name] = max(into.get(name, 0), backlog)
        await asyncio.sleep(every_s)


async def measured_step(
    rig: Rig, tracker: Tracker, rate: float, seconds: float
) -> tuple[Step, Evidence]:
    """One step at `rate`, with the CPU and backlog it cost."""
    loop = asyncio.get_running_loop()
    pids = rig.pids()
    pending: dict[str, int] = {}
    sampler = asyncio.create_task(sample_pending(rig, pending))
    (ran, waited), box, started = read_cpu(pids), read_box(), loop.time()
    try:
        step = await tracker.run_step(rig.client, rate, seconds)
    finally:
        sampler.cancel()
    wall = loop.time() - started
    ran_after, waited_after = read_cpu(pids)
    cpu, starved = shares(ran, ran_after, wall), shares(waited, waited_after, wall)
    return step, Evidence(cpu, starved, pending, *box_shares(box, read_box()))


def read_box() -> tuple[int, int, int]:
    """The whole box's CPU ticks so far (busy, iowait, total)."""
    return box_ticks(Path("/proc/stat").read_text().splitlines()[0])


async def drain(tracker: Tracker, within_s: float = DRAIN_S) -> int:
    """Wait until every job seen submitted has ended; the jobs still open after `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if not tracker.open_jobs():
            break
        await asyncio.sleep(0.2)
    return tracker.open_jobs()


async def ramp(rig: Rig, tracker: Tracker) -> list[tuple[Step, Evidence]]:
    """Steps of rising rate until one breaks, then halving the gap (`next_rate`), each
    printed as it ends."""
    steps: list[tuple[Step, Evidence]] = []
    history: list[tuple[float, bool]] = []
    while (rate := next_rate(history, CEILING)) is not None:
        step, evidence = await measured_step(rig, tracker, rate, STEP_S)
        broken = verdict(step)
        history.append((rate, broken is None))
        steps.append((step, evidence))
        print(step_line(step, broken), flush=True)
        print(f"step {rate:g} jobs/s: {evidence.describe()}", file=sys.stderr, flush=True)
        if broken is not None and (left := await drain(tracker)):
            print(f"  {left} jobs still open {DRAIN_S:g} s after that step", flush=True)
    return steps


async def measure(scratch: Path, instances: int, *, half: bool = True) -> float:
    """Ramp, name the bottleneck, then (with `half`) run at half the sustained rate; the
    sustained rate."""
    async with running_loop(scratch, instances) as rig:
        tracker = Tracker()
        await tracker.watch(rig.client)
        print(
            f"loop: {BACKENDS} simulated backends ({STEPS} steps of {STEP_TIME_S * 1000:g} ms),"
            f" {scaled(instances)} as processes, nats-server (sync always);"
            f" steps of {STEP_S:g} s, limit p99 {LATENCY_LIMIT_S:g} s",
            flush=True,
        )
        steps = await ramp(rig, tracker)
        best = sustained([(s.rate, verdict(s) is None) for s, _ in steps])
        print(
            f"  sustained {best:8g} jobs/s"
            " (every job completed, none failed, p99 within limit, kept up)"
        )
        print(f"bottleneck: {bottleneck(steps)}", flush=True)
        if half and best:
            step, _ = await measured_step(rig, tracker, best / 2, HALF_S)
            print(half_line(step), flush=True)
        if rig.stack.restarts:
            print(f"  restarted during the run: {rig.stack.restarts}", flush=True)
    return best


def scaled(instances: int) -> str:
    """What `comfy-recovery up --instances N` runs: which services get N processes."""
    units = StackConfig(Path("."), instances=instances).units()
    more = sorted({unit.service for unit in units if unit.instance > 1})
    if not more:
        return "one instance of each service"
    return f"{instances} instances of {', '.join(more)} (up --instances {instances}), others once"


async def scale_out(scratch: Path) -> None:
    """The same ramp on `comfy-recovery up`, then on `up --instances 2`; their ratio."""
    one = await measure(scratch / "one", 1, half=False)
    two = await measure(scratch / "two", 2, half=False)
    ratio = f"{two / one:5.2f}" if one else "n/a (nothing sustained with 1)"
    print(
        f"  scale-out ratio {ratio}"
        f" ({two:g} jobs/s with {scaled(2)}; {one:g} with one instance of each)"
    )


def main() -> None:
    """Run the bench in a scratch directory; SIGINT and SIGTERM end it cleanly (the stack and
    the simulator are stopped on the way out)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--scale-out", action="store_true", help="1 instance, then 2: ratio")
    args = parser.parse_args()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        signal.signal(signum, signal.default_int_handler)
    with tempfile.TemporaryDirectory() as tmp:
        if args.scale_out:
            asyncio.run(scale_out(Path(tmp)))
        else:
            asyncio.run(measure(Path(tmp), args.instances))


if __name__ == "__main__":
    main()
