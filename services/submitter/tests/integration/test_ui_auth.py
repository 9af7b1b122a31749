"""The console over real HTTP: the API's tokens guard every page, stream and action; a
token given once becomes an HttpOnly SameSite=Strict cookie; actions that cannot apply are
refused with the API's reason and publish nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from comfy_recovery.natsd import free_port
from contracts import BusSettings, JobStatus, JobView, utcnow
from contracts import subjects as subj
from contracts.codec import decode
from contracts.job import JobRetryRequested
from contracts.readmodel import encode_view
from cr_client import Bus
from services.submitter.tests.integration.apiserver import serving
from submitter.config import Settings

pytestmark = pytest.mark.integration
TOKEN = "console-token"


@pytest.fixture
async def browser(bus: Bus, bus_settings: BusSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials (like a fresh browser) on a running API."""
    port = free_port()
    settings = Settings(nats=bus_settings, comfyui_urls="", api_port=port, api_tokens=TOKEN)
    async with (
        serving(settings, TOKEN, timeout=30),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield client


async def published(bus: Bus, subjects: str) -> int:
    info = await bus.js.stream_info(subj.EVENTS_STREAM, subjects_filter=subjects)
    return sum((info.state.subjects or {}).values())


async def test_without_a_token_pages_go_to_login_and_streams_and_actions_are_refused(
    browser: httpx.AsyncClient, bus: Bus
) -> None:
    page = await browser.get("/ui/jobs?status=ABORTED")
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=%2Fui%2Fjobs%3Fstatus%3DABORTED"
    assert (await browser.get("/ui/jobs/j1/events")).status_code == 401
    stop = await browser.post("/ui/control/emergency-stop")
    assert stop.status_code == 303 and stop.headers["location"].startswith("/ui/login")
    assert await published(bus, subj.CONTROL_EMERGENCY_STOP) == 0
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await browser.post("/ui/control/emergency-stop", headers=auth)).status_code == 200
    assert await published(bus, subj.CONTROL_EMERGENCY_STOP) == 1
    assert (await browser.get("/ui/login")).status_code == 200
    wrong = await browser.post("/ui/login", data={"token": "nope", "next": "/ui/fleet"})
    assert wrong.status_code == 401 and "not valid" in wrong.text


async def test_a_token_once_becomes_an_http_only_strict_cookie(browser: httpx.AsyncClient) -> None:
    given = await browser.get(f"/ui/jobs?token={TOKEN}&status=COMPLETED")
    assert given.status_code == 303
    assert given.headers["location"] == "/ui/jobs?status=COMPLETED", "the token leaves the URL"
    cookie = given.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    jobs = await browser.get("/ui/jobs")
    assert jobs.status_code == 200 and "text/html" in jobs.headers["content-type"]
    assert (await browser.get(f"/ui/jobs?token={TOKEN}x")).status_code == 401
    login = await browser.post("/ui/login", data={"token": TOKEN, "next": "https://elsewhere/"})
    assert login.status_code == 303 and login.headers["location"] == "/ui/jobs"


async def test_a_bearer_header_works_too_and_refusals_carry_the_api_reason(
    browser: httpx.AsyncClient, bus: Bus
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    view = JobView(job_id="done-1", status=JobStatus.COMPLETED, attempt=1, updated_at=utcnow())
    await (await bus.kv(subj.KV_JOBS)).put("done-1", encode_view(view))
    page = await browser.get("/ui/jobs/done-1", headers=auth)
    assert page.status_code == 200 and "COMPLETED" in page.text
    cancel = await browser.post("/ui/jobs/done-1/cancel", data={"reason": "x"}, headers=auth)
    assert cancel.status_code == 409 and "COMPLETED" in cancel.text
    missing = await browser.post("/ui/jobs/nobody/cancel", headers=auth)
    assert missing.status_code == 404
    bad = await browser.post("/ui/jobs/done-1/retry", data={"max_attempts": "0"}, headers=auth)
    assert bad.status_code == 422 and "max_attempts" in bad.text
    for family in (subj.JOB_CANCEL_REQUESTED, subj.JOB_RETRY_REQUESTED):
        assert await published(bus, f"{family}.>") == 0, family
    running = JobView(job_id="run-1", status=JobStatus.RUNNING, attempt=1, updated_at=utcnow())
    await (await bus.kv(subj.KV_JOBS)).put("run-1", encode_view(running))
    cancel = await browser.post("/ui/jobs/run-1/cancel", data={"reason": "x"}, headers=auth)
    assert cancel.status_code == 303
    assert cancel.headers["location"] == "/ui/jobs/run-1?live=true&done=cancel"
    assert await published(bus, f"{subj.JOB_CANCEL_REQUESTED}.>") == 1


async def test_a_retry_from_the_console_carries_the_new_policy(
    browser: httpx.AsyncClient, bus: Bus
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    view = JobView(job_id="ab-1", status=JobStatus.ABORTED, attempt=2, updated_at=utcnow())
    await (await bus.kv(subj.KV_JOBS)).put("ab-1", encode_view(view))
    form = {"max_attempts": "6", "allow_degradation": "true", "deadline_s": ""}
    retry = await browser.post("/ui/jobs/ab-1/retry", data=form, headers=auth)
    assert retry.status_code == 303, retry.text
    msg = await bus.js.get_last_msg(subj.EVENTS_STREAM, f"{subj.JOB_RETRY_REQUESTED}.ab-1")
    event = decode(msg.data)
    assert isinstance(event, JobRetryRequested) and event.policy is not None
    assert (event.policy.max_attempts, event.policy.allow_degradation) == (6, True)
    assert event.force is False
