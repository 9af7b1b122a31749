"""Chaos: kill -9 of the recovery service in the middle of 200 jobs with injected failures."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from comfy_recovery.demo import base_workflow
from comfysim import FaultSpec, SimBackendSpec
from contracts import JobDispatched, JobStatus, RecoveryDecided
from contracts.readmodel import TERMINAL
from tests.support.natsd import NatsServer
from tests.support.system import running_system, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(1500),
]
JOBS = 200


def job(i: int) -> dict[str, Any]:
    g = copy.deepcopy(base_workflow())
    g["3"]["inputs"]["steps"] = 4
    g["3"]["inputs"]["seed"] = i
    kind = ("ok", "oom", "broken", "ok")[i % 4]
    g["9"]["inputs"]["filename_prefix"] = f"chaos-{kind}-{i}"
    if kind == "oom":
        g["5"]["inputs"]["batch_size"] = 8
    return g


async def test_kill_9_of_recovery_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    backends = [SimBackendSpec("b0", step_time_s=0.005), SimBackendSpec("b1", step_time_s=0.005)]
    try:
        async with running_system(server.url, tmp_path / "system", backends) as system:
            for backend in system.sim.backends():
                backend.inject(
                    FaultSpec(
                        "node_error", times=-1, match={"filename_prefix_contains": "chaos-broken"}
                    )
                )
            ids = [await system.client.submit(job(i)) for i in range(JOBS)]
            for delay in (2.0, 4.0):
                await asyncio.sleep(delay)
                await system.stack.kill("recovery")  # SIGKILL; the supervisor starts it again
            results = await asyncio.gather(*(system.client.result(j, timeout=900) for j in ids))

            async def settled() -> list[Any]:
                # the read model follows the stream: recovery writes a view just after the
                # terminal event is stored, later on a loaded machine
                seen = [await system.client.status(j) for j in ids]
                return seen if all(v.status in TERMINAL for v in seen) else []

            try:
                views = await wait_for(settled, 60)
            except TimeoutError:
                views = [await system.client.status(j) for j in ids]
    finally:
        server.stop()
    assert all(r.status in (JobStatus.COMPLETED, JobStatus.ABORTED) for r in results)
    behind = [(v.job_id, v.status) for v in views if v.status not in TERMINAL]
    assert not behind, f"read model not terminal for {len(behind)} jobs: {behind[:5]}"
    decisions = [e for r in results for e in r.events if isinstance(e, RecoveryDecided)]
    per_failure = Counter(d.answers_event_id for d in decisions)
    assert per_failure and max(per_failure.values()) == 1, "a failure got two decisions"
    dispatched = [e for r in results for e in r.events if isinstance(e, JobDispatched)]
    per_cause = Counter(d.causation_id for d in dispatched)
    assert max(per_cause.values()) == 1, "a decision was dispatched twice"
    prompts = Counter(p.prompt_id for d in dispatched for p in d.prompts)
    assert max(prompts.values()) == 1
    statuses = Counter(r.status for r in results)
    assert statuses[JobStatus.ABORTED] == JOBS // 4  # exactly the broken ones
