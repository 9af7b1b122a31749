"""Issue 11 end to end (five services as processes, real NATS, the simulator): an accepted
job ends, a retry after a validation rejection runs, the largest accepted workflow completes
without any service restarting, and one byte more is refused naming the limit."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.js.errors import KeyNotFoundError

from comfy_recovery.demo import base_workflow
from contracts import (
    FailureClass,
    FailureClassified,
    JobFailed,
    JobStatus,
    JobSubmitted,
    RecoveryPolicy,
    derive_event_id,
    subjects,
    utcnow,
)
from contracts.job import Binding
from contracts.workflow import submission_limit
from recovery.adapters.snapshots import job_key
from tests.support.natsd import NatsServer
from tests.support.system import System, running_system, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    env = {"CR_RECOVERY_SNAPSHOT_INTERVAL_S": "1"}
    async with running_system(
        nats_server.url, tmp_path_factory.mktemp("nohang"), env=env
    ) as running:
        yield running


async def status_of(system: System, job_id: str) -> JobStatus | None:
    try:
        return (await system.client.status(job_id)).status
    except Exception:  # noqa: BLE001 - not written yet
        return None


async def test_a_retry_after_a_validation_rejection_runs_as_attempt_two(system: System) -> None:
    workflow = copy.deepcopy(base_workflow())
    workflow["3"]["inputs"]["steps"] = 4
    workflow["4"]["inputs"]["ckpt_name"] = "not_here.safetensors"
    client = system.client
    job_id = await client.submit(workflow)
    first = await client.result(job_id, timeout=60)
    assert first.status is JobStatus.ABORTED, system.log
    await wait_for(lambda: _is(system, job_id, JobStatus.ABORTED))
    view = await client.status(job_id)
    assert view.attempt == 1 and view.backends_tried  # was: attempt 0, backends tried: -
    fallback = RecoveryPolicy(
        fallback_models={"not_here.safetensors": ["sd_xl_base_1.0.safetensors"]}
    )
    await client.retry(job_id, policy=fallback)
    result = await client.result(job_id, timeout=90)  # was: RECOVERING forever
    assert result.status is JobStatus.COMPLETED, system.log
    assert max(e.attempt for e in result.events) >= 2
    assert "dispatch.already_done" not in system.log


async def _is(system: System, job_id: str, status: JobStatus) -> bool:
    return await status_of(system, job_id) is status


async def test_the_largest_accepted_workflow_completes_and_no_service_restarts(
    system: System,
) -> None:
    limit = submission_limit(system.client.bus.nc.max_payload)
    workflow = copy.deepcopy(base_workflow())
    workflow["3"]["inputs"]["steps"] = 4
    body = {"workflow": workflow}
    filler = limit - len(json.dumps(body)) - 2048  # the event's envelope is added to it
    workflow["7"]["inputs"]["text"] = "n" * filler
    async with httpx.AsyncClient(base_url=system.api_url, timeout=60) as http:
        accepted = await http.post("/v1/jobs", json=body)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        result = await system.client.result(job_id, timeout=120)
        assert result.status is JobStatus.COMPLETED, system.log
        # recovery snapshots the job (its state holds the graph twice) and stays up
        await wait_for(lambda: _snapshotted(system, job_id), timeout=30)
        workflow["7"]["inputs"]["text"] = "n" * (limit + 1)
        refused = await http.post("/v1/jobs", json=body)
        assert refused.status_code == 413
        assert refused.json()["limit"] == limit and str(limit) in refused.json()["detail"]
    assert system.stack.restarts == {}, system.log


async def _snapshotted(system: System, job_id: str) -> bool:
    kv = await system.client.bus.kv(subjects.KV_SNAPSHOTS)
    try:
        await kv.get(job_key(job_id))
    except KeyNotFoundError:
        return False
    return True


async def test_a_raw_submission_with_a_binding_to_a_missing_node_ends(system: System) -> None:
    """A client that skips JobClient's checks (any NATS publisher): the submitter fails the
    job as an invalid workflow instead of dead-lettering it (it stayed SUBMITTED forever)."""
    job_id = "raw-bad-binding"
    event = JobSubmitted(
        event_id=derive_event_id(job_id, "submitted"),
        job_id=job_id,
        occurred_at=utcnow(),
        source="raw",
        workflow=copy.deepcopy(base_workflow()),
        params={"x": 5},
        bindings={"x": Binding("99", "width")},
    )
    await system.client.bus.publish(event)
    result = await system.client.result(job_id, timeout=60)
    assert result.status is JobStatus.ABORTED, system.log
    classified = [e for e in result.events if isinstance(e, FailureClassified)]
    assert classified and classified[0].failure_class is FailureClass.INVALID_WORKFLOW
    assert "node 99" in (result.reason or "") + " ".join(
        e.evidence.message for e in result.events if isinstance(e, JobFailed)
    )
