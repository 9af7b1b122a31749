"""The seed-compatible routes and the operator console, in process (httpx ASGITransport)
over a real JobClient on the faked bus seam: logins, confirmations, actions and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest

from contracts import JobStatus, JobView, subjects
from contracts.backend import BackendHealth
from contracts.backends import BackendRef
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.envelope import utcnow
from contracts.job import JobCancelRequested, JobRetryRequested, JobSubmitted
from cr_client import JobClient
from services.submitter.tests.unit.seam_fakes import ApiBus, store_view
from submitter.adapters.registry import Registry
from submitter.api.app import create_api
from submitter.api.deps import ApiDeps
from submitter.api.ui.auth import COOKIE

WORKFLOW = {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512}}}
TOKEN = {"authorization": "Bearer s3cret"}


@pytest.fixture
async def app() -> AsyncIterator[tuple[httpx.AsyncClient, ApiBus]]:
    bus = ApiBus()
    registry = Registry([BackendRef("b0", "http://b0:8188"), BackendRef("b1", "http://b1:8188")])
    deps = ApiDeps(JobClient(bus), registry, frozenset({"s3cret"}), open_health=False)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=create_api(deps, max_body_bytes=1 << 20))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http, bus


async def test_seed_submit_status_retry_and_their_refusals(app: Any) -> None:
    http, bus = app
    body = {"workflow_data": WORKFLOW, "job_type": "txt2img", "timeout_minutes": 2}
    reply = await http.post("/api/error-recovery/jobs/submit", json=body, headers=TOKEN)
    assert reply.status_code == 200, reply.text
    (event,) = bus.of(JobSubmitted)
    assert reply.json()["data"] == {"job_id": event.job_id, "status": "pending"}
    assert event.policy is not None and event.policy.deadline_s == 120.0
    assert event.labels == {"job_type": "txt2img"}

    await store_view(bus, JobView(job_id="done", status=JobStatus.COMPLETED, retry_count=1))
    seen = (await http.get("/api/error-recovery/jobs/done/status", headers=TOKEN)).json()["data"]
    assert (seen["status"], seen["progress_percent"], seen["recovery_attempts"]) == (
        "completed",
        100.0,
        1,
    )
    refused = await http.post("/api/error-recovery/jobs/done/retry", headers=TOKEN)
    assert refused.status_code == 400 and "'completed' state" in refused.json()["detail"]
    forced = await http.post(
        "/api/error-recovery/jobs/done/retry", json={"force_retry": True}, headers=TOKEN
    )
    assert forced.status_code == 200 and bus.of(JobRetryRequested)[0].force
    assert (
        await http.post("/api/error-recovery/jobs/ghost/retry", headers=TOKEN)
    ).status_code == 404


async def test_seed_stop_cleanup_statistics_and_health(app: Any) -> None:
    http, bus = app
    old = utcnow() - timedelta(hours=30)
    await store_view(bus, JobView(job_id="run", status=JobStatus.RUNNING))
    await store_view(bus, JobView(job_id="old", status=JobStatus.ABORTED, finished_at=old))
    stop = (await http.post("/api/error-recovery/emergency-stop", headers=TOKEN)).json()
    assert stop["cancelled_jobs"] == ["run"] and bus.of(EmergencyStopRequested)
    assert (
        await http.delete("/api/error-recovery/cleanup?hours=0", headers=TOKEN)
    ).status_code == 400
    cleaned = (await http.delete("/api/error-recovery/cleanup?hours=24", headers=TOKEN)).json()
    assert cleaned["data"] == {"deleted_jobs": 1}
    stats = {
        "total_errors": 4,
        "successful_recoveries": 3,
        "failed_recoveries": 1,
        "recovery_rate": 0.75,
        "error_distribution": {"GPU_OOM": 4},
    }
    bus.stats_reply = msgspec.json.encode(stats)
    seed_stats = (await http.get("/api/error-recovery/statistics", headers=TOKEN)).json()
    assert seed_stats["recovery_rate"] == 0.75 and seed_stats["total_errors"] == 4
    detailed = (await http.get("/api/error-recovery/statistics/detailed", headers=TOKEN)).json()
    assert detailed["data"]["error_distribution"] == {"GPU_OOM": 4}
    assert (
        await http.get("/api/error-recovery/health")
    ).status_code == 401  # health is not open here
    health = (await http.get("/api/error-recovery/health", headers=TOKEN)).json()
    assert health["status"] == "healthy" and health["comfyui_connected"]


async def test_the_console_login_sets_a_cookie_and_a_bad_token_is_refused(app: Any) -> None:
    http, _ = app
    bounced = await http.get("/ui/jobs?status=RUNNING")
    assert bounced.status_code == 303
    assert bounced.headers["location"].startswith("/ui/login?next=%2Fui%2Fjobs")
    assert (await http.get("/ui/login?next=//evil")).status_code == 200
    bad = await http.post("/ui/login", data={"token": "nope", "next": "/ui/fleet"})
    assert bad.status_code == 401 and "not valid" in bad.text
    good = await http.post("/ui/login", data={"token": "s3cret", "next": "https://evil/x"})
    assert good.status_code == 303 and good.headers["location"] == "/ui/jobs"
    assert good.cookies[COOKIE] == "s3cret"
    assert (await http.get("/ui/jobs")).status_code == 200  # the cookie the jar now holds
    out = await http.post("/ui/logout")
    assert out.status_code == 303 and 'cr_console_token=""' in out.headers["set-cookie"]


async def test_a_token_in_the_address_becomes_the_cookie(app: Any) -> None:
    http, _ = app
    live = await http.get("/ui/jobs/j1/events")
    assert live.status_code == 401 and live.text == "login required"
    accepted = await http.get("/ui/fleet?token=s3cret&x=1")
    assert accepted.status_code == 303 and accepted.headers["location"] == "/ui/fleet?x=1"
    assert accepted.cookies[COOKIE] == "s3cret"
    wrong = await http.get("/ui/fleet?token=bad")
    assert wrong.status_code == 401 and "not valid" in wrong.text
    home = await http.get("/ui/", headers=TOKEN)
    assert home.status_code == 303 and home.headers["location"] == "/ui/jobs"


async def test_the_job_list_filters_by_status_backend_and_time(app: Any) -> None:
    http, bus = app
    now = utcnow()
    await store_view(
        bus,
        JobView(
            job_id="job-aaa", status=JobStatus.RUNNING, submitted_at=now, backends_tried=["b0"]
        ),
    )
    await store_view(
        bus,
        JobView(
            job_id="job-bbb",
            status=JobStatus.ABORTED,
            submitted_at=now - timedelta(days=2),
            last_failure_class="GPU_OOM",
        ),
    )
    every = (await http.get("/ui/jobs", headers=TOKEN)).text
    assert "job-aaa" in every and "job-bbb" in every
    running = (await http.get("/ui/jobs?status=RUNNING", headers=TOKEN)).text
    assert "job-aaa" in running and "job-bbb" not in running
    oom = (await http.get("/ui/jobs?failure_class=GPU_OOM", headers=TOKEN)).text
    assert "job-bbb" in oom and "job-aaa" not in oom
    on_b0 = (await http.get("/ui/jobs?backend=b0", headers=TOKEN)).text
    assert "job-aaa" in on_b0 and "job-bbb" not in on_b0
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    recent = (await http.get(f"/ui/jobs?since={since}", headers=TOKEN)).text
    assert "job-aaa" in recent and "job-bbb" not in recent
    garbled = await http.get("/ui/jobs?since=yesterday", headers=TOKEN)
    assert garbled.status_code == 200 and "job-bbb" in garbled.text


async def test_console_cancel_and_retry_confirm_then_act_or_explain(app: Any) -> None:
    http, bus = app
    await store_view(bus, JobView(job_id="run", status=JobStatus.RUNNING))
    await store_view(bus, JobView(job_id="end", status=JobStatus.ABORTED))
    assert (await http.get("/ui/jobs/run/cancel", headers=TOKEN)).status_code == 200
    missing = await http.get("/ui/jobs/ghost/retry", headers=TOKEN)
    assert "no job ghost" in missing.text
    cancelled = await http.post("/ui/jobs/run/cancel", data={"reason": ""}, headers=TOKEN)
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == "/ui/jobs/run?live=true&done=cancel"
    assert bus.of(JobCancelRequested)[0].reason == "cancelled from the console"
    refused = await http.post("/ui/jobs/end/cancel", data={}, headers=TOKEN)
    assert refused.status_code == 409 and not bus.of(JobRetryRequested)
    bad = await http.post("/ui/jobs/end/retry", data={"max_attempts": "many"}, headers=TOKEN)
    assert bad.status_code == 422 and "max_attempts" in bad.text
    retry_form = {"max_attempts": "6", "allow_degradation": "true", "min_width": " "}
    retried = await http.post("/ui/jobs/end/retry", data=retry_form, headers=TOKEN)
    assert retried.status_code == 303
    (retry,) = bus.of(JobRetryRequested)
    assert retry.policy is not None and retry.policy.max_attempts == 6
    assert retry.policy.allow_degradation
    not_eligible = await http.post("/ui/jobs/run/retry", data={}, headers=TOKEN)
    assert not_eligible.status_code == 409


async def test_console_control_shows_the_pause_and_acts_on_confirmation(app: Any) -> None:
    http, bus = app
    running = "Dispatch is <strong>running"
    assert running in (await http.get("/ui/control", headers=TOKEN)).text
    assert (await http.get("/ui/control/emergency-stop", headers=TOKEN)).status_code == 200
    assert (await http.get("/ui/control/explode", headers=TOKEN)).status_code == 404
    assert (await http.post("/ui/control/explode", headers=TOKEN)).status_code == 404
    stop = await http.post("/ui/control/emergency-stop", headers=TOKEN)
    assert stop.status_code == 200 and "Emergency stop requested" in stop.text
    paused = (await http.get("/ui/control", headers=TOKEN)).text
    assert "paused by an emergency stop" in paused and "never" in paused  # never resumed
    resume = await http.post("/ui/control/resume", headers=TOKEN)
    assert "Resume requested" in resume.text
    assert [type(e) for e in bus.events] == [EmergencyStopRequested, DispatchResumed]
    assert running in (await http.get("/ui/control", headers=TOKEN)).text


async def test_the_fleet_page_lists_every_backend_with_its_health(app: Any) -> None:
    http, bus = app
    health = BackendHealth(
        event_id="h",
        job_id="-",
        occurred_at=utcnow(),
        source="monitor",
        backend_id="b0",
        reachable=True,
        comfyui_version="0.3.99",
        vram_total=8 << 30,
        vram_free=2 << 30,
    )
    bus.seed(health)
    kv = await bus.kv(subjects.KV_BACKENDS)
    await kv.put("b1.breaker", msgspec.json.encode({"state": "open", "reason": "quarantine"}))
    page = await http.get("/ui/fleet", headers=TOKEN)
    assert page.status_code == 200 and "b0" in page.text and "b1" in page.text
    body = await http.get("/ui/fleet/body", headers=TOKEN)
    assert body.status_code == 200 and "b1" in body.text
