"""The `ours` policy: the real system (nats-server and the five services as processes, started
by `Stack`) in front of the campaign's fleet; jobs go in through `JobClient` and outcomes are
read from each job's own events. `--chaos` kills every service once (SIGKILL) and restarts
nats-server once at seeded times while the jobs run.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import httpx

from comfy_recovery.campaign.metrics import ABORTED, COMPLETED, JobRun
from comfy_recovery.campaign.mix import JobSpec
from comfy_recovery.natsd import free_port, free_port_block
from comfy_recovery.stack import SERVICES, Stack, StackConfig
from contracts import BusSettings, RecoveryPolicy
from contracts.codec import AnyEvent
from contracts.failure import FailureClassified
from contracts.job import JobCompleted, JobFailed
from contracts.recovery import Abort, RecoveryDecided
from cr_client import JobClient
from cr_client.client import terminal_status

CAMPAIGN_ENV: Final = {
    "CR_MONITOR_HEALTH_INTERVAL_S": "1",
    "CR_MONITOR_CHECK_INTERVAL_S": "0.3",
    "CR_MONITOR_RECONCILE_INTERVAL_S": "2",
    "CR_MONITOR_INVENTORY_INTERVAL_S": "5",
    "CR_MONITOR_UNREACHABLE_GRACE_S": "3",
    "CR_MONITOR_WEDGE_WINDOW_S": "10",
    "CR_MONITOR_NVML": "false",
    "CR_SUBMITTER_NO_BACKEND_RETRY_S": "1",
    "CR_NATS_ACK_WAIT_S": "10",
    "CR_ANALYTICS_BATCH_MAX_SECONDS": "1",
}
"""Observation windows scaled to simulated jobs that take a fraction of a second (a variable
already in the environment wins). Policy parameters (backoff, breakers, attempts) keep the
system's own defaults."""
RESULT_GRACE_S: Final = 20.0
READY_TIMEOUT_S: Final = 120.0
READ_CONCURRENCY: Final = 16


@dataclass
class ChaosPlan:
    """When (seconds after the first arrival) each service is killed and NATS restarted."""

    kills: list[tuple[float, str]] = field(default_factory=list)
    nats_restart_at: float | None = None

    @classmethod
    def seeded(cls, seed: int, window_s: float) -> ChaosPlan:
        """Every service once and NATS once, spread over the middle of the arrival window."""
        rng = random.Random(seed * 7919 + 1)
        kills = sorted((round(rng.uniform(0.1, 0.8) * window_s, 2), s) for s in SERVICES)
        return cls(kills, round(rng.uniform(0.3, 0.6) * window_s, 2))


@dataclass
class ChaosReport:
    """What the chaos did, and what it cost."""

    kills: list[str] = field(default_factory=list)
    nats_restarts: int = 0
    lost: int = 0
    doubled: int = 0


def job_run(index: int, submitted_at: float, events: list[AnyEvent]) -> JobRun:
    """What a job's events say: its end, final prompts, first failure, abort message."""
    run = JobRun(index, submitted_at=submitted_at)
    for event in events:
        at = event.occurred_at.timestamp()
        if isinstance(event, JobFailed) and run.first_failure_at is None:
            run.first_failure_at = at
        run.trail.extend(trail_entry(event, run.submitted_at))
        if isinstance(event, JobCompleted):
            run.completions += 1
            if run.status != COMPLETED:
                run.status, run.final_prompts, run.ended_at = COMPLETED, event.prompt_ids, at
        elif terminal_status(event) is not None and run.status != COMPLETED:
            assert isinstance(event, RecoveryDecided)
            abort = next(a for a in event.actions if isinstance(a, Abort))
            run.status, run.ended_at = ABORTED, at
            run.message = abort.user_message or abort.reason
            run.fix_steps = list(abort.actionable_steps)
    return run


def trail_entry(event: AnyEvent, submitted_at: float) -> list[str]:
    """A failure's class or a decision's strategy, with its time since submission."""
    at = f"{event.occurred_at.timestamp() - submitted_at:.1f}s"
    if isinstance(event, FailureClassified):
        return [f"{at} {event.failure_class}@{event.backend_id or '-'}"]
    if isinstance(event, RecoveryDecided):
        return [f"{at} {event.strategy}"]
    return []


def campaign_env(extra: dict[str, str]) -> dict[str, str]:
    """CAMPAIGN_ENV plus `extra`, without overriding what the user already set."""
    return {k: v for k, v in {**CAMPAIGN_ENV, **extra}.items() if k not in os.environ}


async def wait_ready(stack: Stack, timeout: float = READY_TIMEOUT_S) -> None:
    """Until every service answers 200 on /readyz."""
    health = stack.describe()["health"]
    assert isinstance(health, dict)
    urls = [f"{base}/readyz" for base in health.values()]
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            codes = []
            for url in urls:
                try:
                    codes.append((await http.get(url)).status_code)
                except httpx.HTTPError:
                    codes.append(0)
            if all(code == 200 for code in codes):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"services not ready after {timeout:.0f}s: {codes}")
            await asyncio.sleep(0.3)


async def _retrying(make: Callable[[], Awaitable[Any]], tries: int = 5) -> Any:
    """Await `make()`, again after a pause while NATS is restarting."""
    for attempt in range(tries - 1):
        try:
            return await make()
        except Exception:  # noqa: BLE001 - nats client errors of any kind while it restarts
            await asyncio.sleep(1.0 + attempt)
    return await make()


class OursRunner:
    """Runs a campaign's jobs through the real system."""

    def __init__(
        self,
        urls: dict[str, str],
        deadline_s: float,
        stall_s: float,
        data_dir: Path,
        chaos: ChaosPlan | None = None,
    ) -> None:
        self.urls = urls
        self.deadline_s = deadline_s
        self.stall_s = stall_s
        self.data_dir = data_dir
        self.chaos = chaos
        self.report = ChaosReport()
        self.instances = 1
        """Processes of every service; chaos kills the first instance of each."""

    def config(self) -> StackConfig:
        """A stack on free ports, in a fresh data directory, pointed at the fleet."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        api = {"CR_SUBMITTER_API_PORT": str(free_port())}
        config = StackConfig(
            data_dir=self.data_dir,
            nats_port=free_port(),
            comfyui_urls=",".join(f"{i}={u}" for i, u in self.urls.items()),
            extra_env=campaign_env(api),
            instances=self.instances,
        )
        config.health_base_port = free_port_block(len(config.units()))
        return config

    async def run(self, specs: list[JobSpec], bound_s: float) -> dict[int, JobRun]:
        """Start the system, submit every job at its arrival time, read every outcome.

        Waiting ends when every job has ended or `bound_s` after the first arrival; what the
        jobs' events say at that point is the outcome (no end yet: unfinished).
        """
        stack = Stack(self.config(), echo=False, log_file=self.data_dir / "stack.log")
        await stack.start()
        submitted: dict[int, tuple[str, float]] = {}
        try:
            await wait_ready(stack)
            settings = BusSettings(url=stack.nats_url)
            async with await JobClient.connect(settings, source="campaign") as client:
                start = time.monotonic()
                chaos = asyncio.create_task(self._chaos(stack, start))
                jobs = [
                    asyncio.create_task(self._job(client, spec, start, submitted)) for spec in specs
                ]
                _, late = await asyncio.wait(jobs, timeout=bound_s)
                for task in [*late, chaos]:
                    task.cancel()
                await asyncio.gather(*late, chaos, return_exceptions=True)
                runs = await self._read(client, submitted)
        finally:
            await stack.stop()
        for spec in specs:
            runs.setdefault(spec.index, JobRun(spec.index))
        self.report.lost = sum(r.status not in (COMPLETED, ABORTED) for r in runs.values())
        self.report.doubled = sum(r.completions > 1 for r in runs.values())
        return runs

    async def _read(
        self, client: JobClient, submitted: dict[int, tuple[str, float]]
    ) -> dict[int, JobRun]:
        """Every submitted job's events, a few jobs at a time."""
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def one(index: int, job_id: str, at: float) -> tuple[int, JobRun]:
            async with gate:
                events = await _retrying(partial(client.history, job_id))
            return index, job_run(index, at, events)

        pairs = await asyncio.gather(*(one(i, j, at) for i, (j, at) in submitted.items()))
        return dict(pairs)

    async def _job(
        self,
        client: JobClient,
        spec: JobSpec,
        start: float,
        submitted: dict[int, tuple[str, float]],
    ) -> None:
        await asyncio.sleep(max(0.0, start + spec.arrival_s - time.monotonic()))
        policy = RecoveryPolicy(
            deadline_s=self.deadline_s,
            stall_window_s=self.stall_s,
            allow_degradation=spec.allow_degradation,
        )
        job_id = f"campaign-{spec.marker}"
        at = time.time()
        await _retrying(lambda: client.submit(spec.workflow(), policy=policy, job_id=job_id))
        submitted[spec.index] = (job_id, at)
        ends = time.monotonic() + self.deadline_s + RESULT_GRACE_S
        while (remaining := ends - time.monotonic()) > 0:
            try:
                await client.result(job_id, timeout=remaining)
                return
            except TimeoutError:
                return
            except Exception:  # noqa: BLE001 - the bus is restarting: follow again
                await asyncio.sleep(1.0)

    async def _chaos(self, stack: Stack, start: float) -> None:
        if self.chaos is None:
            return
        steps: list[tuple[float, str]] = list(self.chaos.kills)
        if self.chaos.nats_restart_at is not None:
            steps.append((self.chaos.nats_restart_at, "nats-server"))
        for at, what in sorted(steps):
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            if what == "nats-server":
                assert stack.nats is not None
                await asyncio.to_thread(stack.nats.restart)
                self.report.nats_restarts += 1
            else:
                await stack.kill(what)
                self.report.kills.append(what)
