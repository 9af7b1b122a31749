"""The 3-node cluster tier: three nats-servers on loopback (R3 streams and KV, sync_interval
always) under the whole system; the events stream's leader is killed with SIGKILL while jobs
run, then restarted. Every job ends completed, nothing is lost or stored twice, and the
services carry on with the new leader (jobs submitted after the kill complete too)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import pytest

from comfy_recovery.demo import base_workflow
from comfy_recovery.natscluster import NatsCluster
from comfysim import SimBackendSpec
from contracts import JobStatus
from contracts import subjects as subj
from contracts.codec import type_tag
from contracts.errors import JobNotFoundError
from contracts.streams import KV_BUCKETS
from tests.support.system import System, running_system, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

JOBS_BEFORE = 12
JOBS_AFTER = 6
ONCE = ("job.submitted", "job.completed")


def graph(steps: int) -> dict[str, Any]:
    """The demo graph with `steps` sampler steps."""
    workflow = copy.deepcopy(base_workflow())
    workflow["3"]["inputs"]["steps"] = steps
    return workflow


async def replicas(url: str) -> dict[str, int]:
    """Replicas of every stream and KV bucket of ours, as the cluster reports them."""
    nc = await nats.connect(url.split(","))
    try:
        js = nc.jetstream()
        names = [subj.EVENTS_STREAM, subj.TELEMETRY_STREAM, subj.DEADLETTER_STREAM]
        names += [f"KV_{bucket}" for bucket, _, _ in KV_BUCKETS]
        return {name: (await js.stream_info(name)).config.num_replicas or 0 for name in names}
    finally:
        await nc.close()


async def some_running(system: System, job_ids: list[str], needed: int) -> bool:
    """Whether at least `needed` of the jobs have been dispatched."""
    running = 0
    for job in job_ids:
        with contextlib.suppress(JobNotFoundError):  # not projected yet
            running += (await system.client.status(job)).status != JobStatus.SUBMITTED
    return running >= needed


async def check_ended_once(system: System, job_ids: list[str]) -> None:
    """Every job completed; no event id stored twice; submitted and completed once each."""
    results = await asyncio.gather(*(system.client.result(j, timeout=300) for j in job_ids))
    ended = Counter(r.status for r in results)
    assert ended == {JobStatus.COMPLETED: len(job_ids)}, (ended, system.log)
    for job_id in job_ids:
        events = await system.client.history(job_id)
        ids = [e.event_id for e in events]
        assert len(set(ids)) == len(ids), f"{job_id}: an event was stored twice"
        counts = Counter(type_tag(type(e)) for e in events)
        assert all(counts[tag] == 1 for tag in ONCE), (job_id, counts)


async def test_killing_the_leader_node_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CR_NATS_REPLICAS", "3")  # this process's clients ensure R3 too
    cluster = NatsCluster(tmp_path / "nats", size=3)
    await asyncio.to_thread(cluster.start)
    try:
        backends = [SimBackendSpec("b0", step_time_s=0.05), SimBackendSpec("b1", step_time_s=0.05)]
        async with running_system(
            cluster.url, tmp_path / "system", backends, env={"CR_NATS_REPLICAS": "3"}
        ) as system:
            assert set((await replicas(cluster.url)).values()) == {3}
            before = [await system.client.submit(graph(40)) for _ in range(JOBS_BEFORE)]
            await wait_for(lambda: some_running(system, before, 2), timeout=60)

            leader = cluster.stream_leader(subj.EVENTS_STREAM)
            assert leader is not None
            await asyncio.to_thread(cluster.node(leader).stop, True)  # SIGKILL

            async def new_leader() -> str | None:
                found = cluster.stream_leader(subj.EVENTS_STREAM)
                return found if found not in (None, leader) else None

            await wait_for(new_leader, timeout=60)
            after = [await system.client.submit(graph(10)) for _ in range(JOBS_AFTER)]
            await asyncio.to_thread(cluster.node(leader).start)
            await check_ended_once(system, before + after)
            assert system.stack.restarts == {}, system.stack.restarts  # no service crashed
    finally:
        await asyncio.to_thread(cluster.stop)
