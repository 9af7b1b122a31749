"""The HTTP API over real HTTP, with the submitter running against a real nats-server."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from comfy_recovery.demo import base_workflow
from comfy_recovery.natsd import free_port
from contracts import BusSettings, JobStatus, JobView, utcnow
from contracts import subjects as subj
from contracts.codec import decode
from contracts.job import JobSubmitted
from contracts.readmodel import encode_view
from cr_client import Bus
from services.submitter.tests.integration.apiserver import serving
from submitter.config import Settings

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token"


@pytest.fixture
async def api(bus: Bus, bus_settings: BusSettings) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    settings = Settings(
        nats=bus_settings,
        comfyui_urls="",
        api_port=port,
        api_tokens=TOKEN,
        api_max_body_bytes=200_000,
    )
    async with serving(settings, TOKEN, timeout=10) as client:
        yield client


async def stored_submission(bus: Bus, job_id: str) -> JobSubmitted:
    msg = await bus.js.get_last_msg(subj.EVENTS_STREAM, subj.per_job(subj.JOB_SUBMITTED, job_id))
    event = decode(msg.data)
    assert isinstance(event, JobSubmitted)
    return event


async def test_a_submitted_job_is_stored_as_an_event(api: httpx.AsyncClient, bus: Bus) -> None:
    body = {
        "workflow": base_workflow(),
        "params": {"5.width": 768},
        "bindings": {"5.width": {"node": "5", "input": "width"}},
        "policy": {"max_attempts": 3, "allow_degradation": True},
    }
    response = await api.post("/v1/jobs", json=body)
    assert response.status_code == 202
    event = await stored_submission(bus, response.json()["job_id"])
    assert event.params == {"5.width": 768} and event.policy is not None
    assert event.policy.max_attempts == 3 and event.policy.allow_degradation


async def test_a_bad_workflow_is_rejected_naming_node_and_input(api: httpx.AsyncClient) -> None:
    graph = copy.deepcopy(base_workflow())
    graph["3"]["inputs"]["latent_image"] = ["99", 0]
    response = await api.post("/v1/jobs", json={"workflow": graph})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["node"], problem["input"]) == ("3", "latent_image")
    assert problem["status"] == 422 and "99" in problem["detail"]


async def test_requests_without_a_valid_token_are_refused(api: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": ""}):
        response = await api.get("/v1/jobs/x", headers=headers)
        assert response.status_code == 401
        assert response.json()["title"] == "Unauthorized"
    open_health = await api.get("/v1/health", headers={"Authorization": ""})
    assert open_health.status_code == 200 and open_health.json()["nats"]["connected"]


async def test_unknown_job_oversized_body_and_bad_json_are_problems(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/jobs/nope")).status_code == 404
    huge = {"workflow": {"1": {"class_type": "X", "inputs": {"t": "x" * 300_000}}}}
    too_big = await api.post("/v1/jobs", json=huge)
    assert too_big.status_code == 413
    bad = await api.post(
        "/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422
    for response in (too_big, bad):
        assert "Traceback" not in response.text and "127.0.0.1" not in response.text


async def test_job_read_model_and_seed_status_shapes(api: httpx.AsyncClient, bus: Bus) -> None:
    view = JobView(
        job_id="job-rm",
        status=JobStatus.ABORTED,
        attempt=2,
        retry_count=1,
        updated_at=utcnow(),
        finished_at=utcnow(),
        abort_reason="model missing",
    )
    await (await bus.kv(subj.KV_JOBS)).put("job-rm", encode_view(view))
    ours = (await api.get("/v1/jobs/job-rm")).json()
    assert ours["status"] == "ABORTED" and ours["retry_count"] == 1
    seed = (await api.get("/api/error-recovery/jobs/job-rm/status")).json()
    assert seed["success"] is True and seed["job_id"] == "job-rm"
    assert seed["data"]["status"] == "failed" and seed["data"]["last_error"] == "model missing"
    retried = (await api.post("/api/error-recovery/jobs/job-rm/retry", json={})).json()
    assert retried == {
        "success": True,
        "job_id": "job-rm",
        "message": "Job job-rm queued for retry with error recovery",
    }


async def test_statistics_without_analytics_is_a_503_problem(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/statistics")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_events_stream_as_server_sent_events(api: httpx.AsyncClient, bus: Bus) -> None:
    job_id = (await api.post("/v1/jobs", json={"workflow": base_workflow()})).json()["job_id"]
    await (await bus.kv(subj.KV_JOBS)).put(
        job_id, encode_view(JobView(job_id=job_id, status=JobStatus.SUBMITTED))
    )
    frames: list[dict[str, Any]] = []
    async with api.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line[6:]))
                break
    assert frames[0]["type"] == "job.submitted" and frames[0]["job_id"] == job_id


async def test_openapi_is_served(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert "/v1/jobs" in spec["paths"] and "/api/error-recovery/jobs/submit" in spec["paths"]
