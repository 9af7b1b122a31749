"""nats-server killed mid-job and restarted on the same store: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from pathlib import Path

import pytest

from comfy_recovery.demo import base_workflow
from comfysim import SimBackendSpec
from contracts import JobStatus
from contracts.codec import type_tag
from tests.support.natsd import NatsServer
from tests.support.system import running_system

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_a_job_survives_nats_being_killed_in_the_middle(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        async with running_system(
            server.url, tmp_path / "system", [SimBackendSpec("b0", step_time_s=0.25)]
        ) as system:
            graph = copy.deepcopy(base_workflow())
            graph["3"]["inputs"]["steps"] = 24
            job_id = await system.client.submit(graph)
            await _wait_dispatched(system.client, job_id)
            await asyncio.to_thread(server.restart, True)  # SIGKILL, same port and store
            result = await system.client.result(job_id, timeout=180)
            assert result.status == JobStatus.COMPLETED, system.log
            events = await system.client.history(job_id)
    finally:
        server.stop()
    assert len({e.event_id for e in events}) == len(events), "an event was stored twice"
    counts = Counter(type_tag(type(e)) for e in events if type_tag(type(e)) != "job.progress")
    assert counts == {"job.submitted": 1, "job.dispatched": 1, "job.completed": 1}, counts


async def _wait_dispatched(client, job_id: str) -> None:  # type: ignore[no-untyped-def]
    async for event in client.follow(job_id):
        if type_tag(type(event)) == "job.progress":
            return
