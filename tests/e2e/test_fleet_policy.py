"""Fleet-level policy end to end (issue 12): one fault never takes the fleet down.

Three simulated backends, the five services as processes, real NATS. A crash with several
prompts queued counts once against its backend and costs no job; with every backend down
jobs wait (and say so) instead of failing, using no attempt; a backend restarted mid-job
never aborts a job.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from nats.js.errors import KeyNotFoundError

from comfy_recovery.demo import base_workflow
from comfysim import SimBackendSpec
from contracts import JobDispatched, JobStatus, RecoveryDecided, subjects
from contracts.backend import BreakerState
from contracts.errors import JobNotFoundError
from cr_client import JobResult
from tests.support.natsd import NatsServer
from tests.support.system import System, running_system, wait_for

# slow suite (make test-slow, run by CI): the restart test alone runs 20 rounds
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]
RESTART_ROUNDS = 20
IDS = ("b0", "b1", "b2")


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    backends = [SimBackendSpec(ident, step_time_s=0.05) for ident in IDS]
    async with running_system(
        nats_server.url, tmp_path_factory.mktemp("fleet"), backends
    ) as running:
        yield running


def graph(prefix: str, steps: int = 6) -> dict[str, Any]:
    g = copy.deepcopy(base_workflow())
    g["3"]["inputs"]["steps"] = steps
    g["9"]["inputs"]["filename_prefix"] = prefix
    return g


def dispatches(result: JobResult) -> list[JobDispatched]:
    return [e for e in result.events if isinstance(e, JobDispatched)]


async def registry(system: System, backend_id: str, kind: str) -> dict[str, Any] | None:
    kv = await system.client.bus.kv(subjects.KV_BACKENDS)
    try:
        entry = await kv.get(f"{backend_id}.{kind}")
    except KeyNotFoundError:
        return None
    value: dict[str, Any] = msgspec.json.decode(entry.value) if entry.value else {}
    return value


async def reachable(system: System, backend_id: str) -> bool | None:
    health = await registry(system, backend_id, "health")
    return None if health is None else bool(health.get("reachable"))


async def all_up(system: System) -> bool:
    return all([await reachable(system, b) for b in IDS])


async def results(system: System, job_ids: list[str], timeout: float = 150) -> list[JobResult]:
    return list(await asyncio.gather(*(system.client.result(j, timeout=timeout) for j in job_ids)))


async def test_a_crash_with_prompts_queued_costs_no_job_and_does_not_open_its_breaker(
    system: System,
) -> None:
    await wait_for(lambda: all_up(system), 60)
    # 8 s per prompt: b0 still holds three when the last of the nine is dispatched, however
    # slowly a loaded machine dispatches them
    jobs = [await system.client.submit(graph(f"crashq{i}", steps=160)) for i in range(9)]

    async def queued_on_b0() -> bool:
        return system.sim.backend("b0").proc.queue.remaining() >= 3

    await wait_for(queued_on_b0, 60)
    system.sim.backend("b0").schedule_crash(down_s=5)
    done = await results(system, jobs)
    assert [r.status for r in done] == [JobStatus.COMPLETED] * 9, system.log
    assert all(len(dispatches(r)) <= 2 for r in done)  # a lost prompt costs at most one attempt
    breaker = await registry(system, "b0", "breaker")
    assert breaker is None or breaker["state"] != BreakerState.OPEN, breaker


async def test_with_every_backend_down_jobs_wait_visibly_and_run_when_one_returns(
    system: System,
) -> None:
    await wait_for(lambda: all_up(system), 60)
    for ident in IDS:
        system.sim.backend(ident).schedule_crash(down_s=12)

    async def all_down() -> bool:
        return all([await reachable(system, b) is False for b in IDS])

    await wait_for(all_down, 30)
    jobs = [await system.client.submit(graph(f"waiting{i}")) for i in range(3)]

    async def waiting_shown() -> bool:
        try:
            views = [await system.client.status(j) for j in jobs]
        except JobNotFoundError:
            return False  # not in the read model yet
        return all(v.waiting_reason for v in views)

    await wait_for(waiting_shown, 30)
    reason = (await system.client.status(jobs[0])).waiting_reason or ""
    assert "waiting for a usable backend" in reason and "unreachable" in reason, reason
    done = await results(system, jobs)
    assert [r.status for r in done] == [JobStatus.COMPLETED] * 3, system.log
    for result in done:
        trail = [(type(e).__name__, getattr(e, "attempt", None)) for e in result.events]
        assert len(dispatches(result)) == 1, trail  # the wait used no attempt
        decided = [e for e in result.events if isinstance(e, RecoveryDecided)]
        assert decided and not any(e.terminal for e in decided)
        view = await system.client.status(result.job_id)
        assert view.waiting_reason is None


async def test_a_backend_restarted_mid_job_for_ten_seconds_never_aborts_it(
    system: System,
) -> None:
    for round_ in range(RESTART_ROUNDS):  # the bar: 20 restarts, no job aborted
        await wait_for(lambda: all_up(system), 60)
        job = await system.client.submit(graph(f"restart{round_}", steps=60))

        async def running_on(job: str = job) -> str | None:
            try:
                view = await system.client.status(job)
            except JobNotFoundError:
                return None
            tried = view.backends_tried
            return tried[-1] if view.status is JobStatus.RUNNING and tried else None

        backend = await wait_for(running_on, 30)
        # every backend restarts for 10 s: the job can only wait for them to come back
        for ident in IDS:
            system.sim.backend(ident).schedule_crash(down_s=10)
        result = await system.client.result(job, timeout=150)
        assert result.status is JobStatus.COMPLETED, (backend, system.log)
