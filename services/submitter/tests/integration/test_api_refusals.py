"""Issue 11 over real HTTP: what cannot run or cannot apply is refused with the reason
(422/413/404/409), auth failures are 401 with a challenge, never a 500."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import httpx
import pytest

from comfy_recovery.demo import base_workflow
from comfy_recovery.natsd import free_port
from contracts import BusSettings, JobStatus, JobView, utcnow
from contracts import subjects as subj
from contracts.codec import decode
from contracts.job import Binding, JobSubmitted
from contracts.readmodel import encode_view
from contracts.workflow import submission_limit
from cr_client import Bus
from services.submitter.tests.integration.apiserver import serving
from submitter.config import Settings

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token"


@pytest.fixture
async def api(bus: Bus, bus_settings: BusSettings) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    settings = Settings(nats=bus_settings, comfyui_urls="", api_port=port, api_tokens=TOKEN)
    async with serving(settings, TOKEN, timeout=30) as client:
        yield client


async def put_view(bus: Bus, job_id: str, status: JobStatus) -> None:
    view = JobView(job_id=job_id, status=status, attempt=1, updated_at=utcnow())
    await (await bus.kv(subj.KV_JOBS)).put(job_id, encode_view(view))


async def submissions(bus: Bus) -> int:
    info = await bus.js.stream_info(subj.EVENTS_STREAM, subjects_filter="job.submitted.>")
    return sum((info.state.subjects or {}).values())


async def test_a_non_ascii_authorization_is_a_401_with_a_challenge(
    api: httpx.AsyncClient,
) -> None:
    for raw in (b"Bearer \xff\xfe", b"Bearer \xc3\xa9t\xc3\xa9", b"\xe9t\xe9 x"):
        response = await api.get("/v1/jobs/x", headers={"Authorization": raw})  # type: ignore[dict-item]
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


async def test_405_names_the_allowed_methods(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v1/jobs")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


async def test_openapi_declares_bearer_security(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert any(s == {"type": "http", "scheme": "bearer", **s} for s in schemes.values())
    post = spec["paths"]["/v1/jobs"]["post"]
    assert post["security"] and "security" not in spec["paths"]["/v1/health"]["get"]
    assert {"413", "422"} <= set(post["responses"])
    retry = spec["paths"]["/v1/jobs/{job_id}/retry"]["post"]
    assert {"404", "409"} <= set(retry["responses"])


async def test_metrics_need_the_token_when_tokens_are_set(api: httpx.AsyncClient) -> None:
    assert (await api.get("/metrics", headers={"Authorization": ""})).status_code == 401
    assert (await api.get("/metrics")).status_code == 200


async def test_a_binding_to_a_missing_node_or_input_is_refused(
    api: httpx.AsyncClient, bus: Bus
) -> None:
    before = await submissions(bus)
    cases = [
        ({"x": 5}, {"x": {"node": "99", "input": "width"}}, "node 99"),
        ({"x": 5}, {"x": {"node": "5", "input": "wide"}}, "wide"),
        ({"width": 5}, {}, "no binding"),
        ({"99.width": 5}, {}, "node 99"),
    ]
    for params, bindings, says in cases:
        body = {"workflow": base_workflow(), "params": params, "bindings": bindings}
        response = await api.post("/v1/jobs", json=body)
        assert response.status_code == 422, (params, response.text)
        assert says in response.json()["detail"]
    assert await submissions(bus) == before


async def test_a_node_input_param_is_bound_where_it_says(api: httpx.AsyncClient, bus: Bus) -> None:
    body = {"workflow": base_workflow(), "params": {"5.width": 1024}}
    response = await api.post("/v1/jobs", json=body)
    assert response.status_code == 202
    msg = await bus.js.get_last_msg(
        subj.EVENTS_STREAM, subj.per_job(subj.JOB_SUBMITTED, response.json()["job_id"])
    )
    event = decode(msg.data)
    assert isinstance(event, JobSubmitted)
    assert event.bindings == {"5.width": Binding("5", "width")}


async def test_operator_actions_on_unknown_or_ineligible_jobs_are_refused(
    api: httpx.AsyncClient, bus: Bus
) -> None:
    before = (await bus.js.stream_info(subj.EVENTS_STREAM)).state.messages
    for action in ("cancel", "retry"):
        response = await api.post(f"/v1/jobs/no-such-job/{action}", json={})
        assert response.status_code == 404, response.text
    await put_view(bus, "done", JobStatus.COMPLETED)
    await put_view(bus, "gone", JobStatus.CANCELLED)
    await put_view(bus, "busy", JobStatus.RUNNING)
    refused = [
        ("done", "retry", {}, "force"),
        ("gone", "retry", {}, "force"),
        ("busy", "retry", {"force": True}, "not ended"),
        ("done", "cancel", {}, "already ended"),
    ]
    for job_id, action, body, says in refused:
        response = await api.post(f"/v1/jobs/{job_id}/{action}", json=body)
        assert response.status_code == 409, (job_id, action, response.text)
        assert says in response.json()["detail"]
    seed = await api.post("/api/error-recovery/jobs/done/retry", json={})
    assert seed.status_code == 400
    assert (await bus.js.stream_info(subj.EVENTS_STREAM)).state.messages == before
    forced = await api.post("/v1/jobs/done/retry", json={"force": True})
    assert forced.status_code == 202


async def test_the_body_limit_is_the_bus_limit_and_is_named(
    api: httpx.AsyncClient, bus: Bus
) -> None:
    limit = submission_limit(bus.nc.max_payload)
    graph = copy.deepcopy(base_workflow())
    graph["6"]["inputs"]["text"] = "x" * (limit + 10)
    response = await api.post("/v1/jobs", json={"workflow": graph})
    assert response.status_code == 413
    assert response.json()["limit"] == limit and str(limit) in response.json()["detail"]
