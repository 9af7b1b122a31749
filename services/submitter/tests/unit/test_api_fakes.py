"""The HTTP API in process (httpx ASGITransport), on a real JobClient over the faked bus
seam: what each route answers, what it publishes, and its problem answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts import JobStatus, JobView, subjects
from contracts.backends import BackendRef
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.envelope import utcnow
from contracts.job import JobCancelRequested, JobRetryRequested, JobSubmitted
from cr_client import JobClient
from services.submitter.tests.unit.seam_fakes import ApiBus, store_view
from submitter.adapters.registry import Registry
from submitter.api.app import create_api
from submitter.api.deps import ApiDeps

WORKFLOW = {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512}}}


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, ApiBus]]:
    bus = ApiBus()
    registry = Registry([BackendRef("b0", "http://b0:8188")])
    deps = ApiDeps(JobClient(bus), registry, frozenset({"s3cret"}), open_health=True)  # type: ignore[arg-type]
    app = create_api(deps, max_body_bytes=4096)
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": "Bearer s3cret"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as c:
        yield c, bus


async def test_a_submission_is_published_and_its_id_returned(api: Any) -> None:
    http, bus = api
    reply = await http.post(
        "/v1/jobs",
        json={
            "workflow": WORKFLOW,
            "params": {"w": 640},
            "bindings": {"w": {"node": "5", "input": "width"}},
            "policy": {"max_attempts": 2},
            "labels": {"team": "a"},
        },
    )
    assert reply.status_code == 202, reply.text
    (event,) = bus.of(JobSubmitted)
    assert reply.json()["job_id"] == event.job_id
    assert event.policy is not None and event.policy.max_attempts == 2
    assert event.labels == {"team": "a"} and event.bindings["w"].node == "5"


async def test_refusals_are_problems_naming_what_is_wrong(api: Any) -> None:
    http, bus = api
    unbound = await http.post("/v1/jobs", json={"workflow": WORKFLOW, "params": {"nope": 1}})
    assert unbound.status_code == 422
    assert unbound.headers["content-type"].startswith("application/problem+json")
    assert unbound.json()["title"] == "Invalid workflow"
    bad_policy = await http.post(
        "/v1/jobs", json={"workflow": WORKFLOW, "policy": {"max_attempts": -3}}
    )
    assert bad_policy.status_code == 422
    big = await http.post("/v1/jobs", json={"workflow": WORKFLOW, "labels": {"x": "y" * 5000}})
    assert big.status_code == 413 and big.json()["limit"] == 4096
    assert not bus.events


async def test_without_the_token_every_route_but_health_is_refused(api: Any) -> None:
    http, _ = api
    for token in ({"authorization": ""}, {"authorization": "Bearer wrong"}):
        reply = await http.get("/v1/jobs/j1", headers=token)
        assert reply.status_code == 401 and "Bearer" in reply.headers["www-authenticate"]
    assert (await http.get("/metrics", headers={"authorization": ""})).status_code == 401
    health = await http.get("/v1/health", headers={"authorization": ""})
    assert health.status_code == 200 and health.json()["backends"][0]["id"] == "b0"


async def test_health_is_503_while_nats_is_disconnected(api: Any) -> None:
    http, bus = api
    bus.nc.is_connected = False
    reply = await http.get("/v1/health")
    assert reply.status_code == 503 and reply.json()["status"] == "degraded"


async def test_a_job_is_read_from_the_read_model_or_is_404(api: Any) -> None:
    http, bus = api
    assert (await http.get("/v1/jobs/nope")).status_code == 404
    await store_view(bus, JobView(job_id="j1", status=JobStatus.RUNNING, attempt=2))
    body = (await http.get("/v1/jobs/j1")).json()
    assert (body["job_id"], body["status"], body["attempt"]) == ("j1", "RUNNING", 2)


async def test_cancel_and_retry_apply_only_when_the_status_allows(api: Any) -> None:
    http, bus = api
    await store_view(bus, JobView(job_id="run", status=JobStatus.RUNNING))
    await store_view(bus, JobView(job_id="end", status=JobStatus.ABORTED))
    assert (await http.post("/v1/jobs/run/cancel", json={"reason": "r"})).status_code == 202
    (cancel,) = bus.of(JobCancelRequested)
    assert cancel.job_id == "run" and cancel.reason == "r"
    refused = await http.post("/v1/jobs/end/cancel")
    assert refused.status_code == 409 and refused.json()["job_status"] == "ABORTED"
    assert (await http.post("/v1/jobs/run/retry")).status_code == 409
    retried = await http.post("/v1/jobs/end/retry", json={"policy": {"max_attempts": 5}})
    assert retried.status_code == 202
    (retry,) = bus.of(JobRetryRequested)
    assert retry.job_id == "end" and retry.policy is not None and retry.policy.max_attempts == 5
    assert (await http.post("/v1/jobs/ghost/cancel")).status_code == 404
    assert len(bus.of(JobCancelRequested)) == 1


async def test_emergency_stop_and_resume_are_published(api: Any) -> None:
    http, bus = api
    assert (await http.post("/v1/emergency-stop")).status_code == 202
    assert (await http.post("/v1/resume")).status_code == 202
    assert [type(e) for e in bus.events] == [EmergencyStopRequested, DispatchResumed]


async def test_statistics_come_from_analytics_or_are_unavailable(api: Any) -> None:
    http, bus = api
    unavailable = await http.get("/v1/statistics")
    assert unavailable.status_code == 503
    bus.stats_reply = b'{"total_errors": 3}'
    assert (await http.get("/v1/statistics")).json()["total_errors"] == 3
    assert (await http.get("/v1/statistics/detailed")).json()["total_errors"] == 3
    bus.stats_reply = b'{"error": "chdb broke"}'
    failed = await http.get("/v1/statistics")
    assert failed.status_code == 503 and "chdb broke" in failed.json()["detail"]


async def test_cleanup_drops_only_read_models_of_jobs_ended_long_ago(api: Any) -> None:
    http, bus = api
    old = utcnow() - timedelta(hours=48)
    await store_view(bus, JobView(job_id="old", status=JobStatus.COMPLETED, finished_at=old))
    await store_view(bus, JobView(job_id="new", status=JobStatus.COMPLETED, finished_at=utcnow()))
    await store_view(bus, JobView(job_id="live", status=JobStatus.RUNNING, updated_at=old))
    reply = await http.delete("/v1/cleanup", params={"hours": 24})
    assert reply.json() == {"deleted": 1}
    kv = await bus.kv(subjects.KV_JOBS)
    assert sorted(kv.entries) == ["live", "new"]
    assert (await http.delete("/v1/cleanup", params={"hours": 0})).status_code == 422


async def test_metrics_are_served_with_the_token(api: Any) -> None:
    http, _ = api
    reply = await http.get("/metrics")
    assert reply.status_code == 200 and "text/plain" in reply.headers["content-type"]
