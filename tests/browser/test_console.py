"""The operator console in a real browser against the whole system: log in, watch an OOM
recovery appear live on a job page, cancel a job, stop and resume dispatch, the fleet, the
recovery charts and the what-if replay; every page checked for labels, contrast and focus."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from playwright.async_api import Page, expect

from comfy_recovery.demo import base_workflow
from contracts import JobStatus
from tests.browser.conftest import TOKEN, accessibility_problems, screenshot
from tests.support.system import System, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def workflow(steps: int = 6, **latent: int) -> dict[str, Any]:
    graph = copy.deepcopy(base_workflow())
    graph["5"]["inputs"].update(latent)
    graph["3"]["inputs"]["steps"] = steps
    return graph


async def log_in(page: Page, system: System, path: str = "/ui/jobs") -> None:
    """Open a console page: the login form comes first, then the page asked for."""
    await page.goto(system.api_url + path)
    await expect(page.get_by_label("API token")).to_be_visible()
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"**{path}")


async def test_without_a_token_the_console_asks_for_one_and_refuses_a_wrong_one(
    page: Page, system: System
) -> None:
    await page.goto(system.api_url + "/ui/fleet")
    assert "/ui/login" in page.url
    await page.get_by_label("API token").fill("wrong")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await page.goto(system.api_url + f"/ui/fleet?token={TOKEN}")
    await page.wait_for_url("**/ui/fleet")
    assert "token" not in page.url, "the token is dropped from the address once the cookie is set"
    await expect(page.locator("#fleet")).to_be_visible()


async def test_an_oom_recovery_appears_live_on_the_job_page(page: Page, system: System) -> None:
    await log_in(page, system, "/ui/control")
    await page.get_by_role("link", name="Emergency stop…").click()
    await page.get_by_role("button", name="Yes, stop everything").click()
    await expect(page.get_by_role("status")).to_contain_text("Every prompt of ours")
    # dispatch is paused: the job page opens before anything happened to the job
    job_id = await system.client.submit(workflow(batch_size=8))
    await page.goto(f"{system.api_url}/ui/jobs/{job_id}")
    await expect(page.locator("#live-state")).to_contain_text("Live")
    assert await page.locator(".decision").count() == 0
    await page.evaluate("window.__sameDocument = true")
    assert await accessibility_problems(page) == []

    control = await page.context.new_page()
    await control.goto(system.api_url + "/ui/control/resume")
    await control.get_by_role("button", name="Yes, resume").click()
    await expect(control.get_by_role("status")).to_contain_text("Dispatch goes on")
    await control.close()

    body = page.locator("#job-body")
    await expect(body.locator(".decision").first).to_contain_text("GPU_OOM", timeout=120_000)
    await expect(page.locator("#job-status")).to_have_text("COMPLETED", timeout=120_000)
    await expect(body.locator(".decision table.diff").first).to_be_visible()
    await expect(page.locator("#timeline")).to_contain_text("job.completed")
    await expect(page.locator("#live-state")).to_contain_text("ended")
    assert await page.evaluate("window.__sameDocument === true"), "updated live, not reloaded"
    await screenshot(page, "job-oom-recovered")
    result = await system.client.result(job_id, timeout=30)
    assert result.status == JobStatus.COMPLETED, system.log


async def test_a_job_is_cancelled_from_the_console(page: Page, system: System) -> None:
    job_id = await system.client.submit(workflow(steps=3000))
    await log_in(page, system, "/ui/jobs")
    assert await accessibility_problems(page) == []
    await page.get_by_role("link", name=job_id).click()
    await page.get_by_role("link", name="Cancel job…").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Cancel job")
    assert await accessibility_problems(page) == []
    await page.get_by_label("Reason").fill("browser test")
    await page.get_by_role("button", name="Yes, cancel the job").click()
    await expect(page.get_by_text("Cancel requested.")).to_be_visible()
    await expect(page.locator("#job-status")).to_have_text("CANCELLED", timeout=60_000)
    await expect(page.locator("#timeline")).to_contain_text("cancel requested")
    await screenshot(page, "job-cancelled")
    # the job list filters by status (and class, backend, time) with labelled controls
    await page.goto(system.api_url + "/ui/jobs")
    await page.get_by_label("Status").select_option("CANCELLED")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("link", name=job_id)).to_be_visible()
    await page.get_by_label("Status").select_option("COMPLETED")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("main table")).not_to_contain_text(job_id)
    # a second cancel is refused with the reason, as the API refuses it
    await page.goto(f"{system.api_url}/ui/jobs/{job_id}/cancel")
    await page.get_by_role("button", name="Yes, cancel the job").click()
    await expect(page.get_by_role("alert")).to_contain_text("409")


async def test_fleet_recovery_and_replay_pages(page: Page, system: System) -> None:
    await log_in(page, system, "/ui/fleet")
    for backend in ("b0", "b1"):
        await expect(page.locator(f'tr[data-backend="{backend}"]')).to_contain_text("closed")
    assert await accessibility_problems(page) == []
    await screenshot(page, "fleet")

    async def oom_counted() -> bool:
        await page.goto(system.api_url + "/ui/recovery")
        return "GPU_OOM" in await page.locator("main").inner_text()

    await wait_for(oom_counted, timeout=60, every=1.0)
    await expect(page.locator("figure svg[role=img]").first).to_be_visible()
    await expect(page.locator("#wasted-total")).to_contain_text("failed attempt")
    wasted_chart = page.locator("section[aria-labelledby=h-wasted] svg")
    await expect(wasted_chart).to_contain_text("GPU_OOM")
    assert await accessibility_problems(page) == []
    await screenshot(page, "recovery")

    await page.get_by_role("link", name="What-if replay").click()
    await page.get_by_label("Policy (JSON").fill('{"allow_degradation": true}')
    await page.get_by_role("button", name="Replay").click()
    await expect(page.locator("#replay-report")).to_contain_text("Jobs replayed")
    assert await accessibility_problems(page) == []
    await screenshot(page, "replay")
    await page.get_by_label("Policy (JSON").fill('{"max_attempts": "many"}')
    await page.get_by_role("button", name="Replay").click()
    await expect(page.get_by_role("alert")).to_contain_text("max_attempts")


async def test_the_accessibility_check_finds_what_it_looks_for(page: Page) -> None:
    await page.set_content(
        '<a class="skip" href="#m">Skip</a><input id="x">'
        '<p style="color:#aaa;background:#fff">faint text</p>'
        '<button style="outline:none">no focus ring</button>'
    )
    problems = await accessibility_problems(page)
    assert any(p.startswith("no label: #x") for p in problems), problems
    assert any("faint text" in p for p in problems), problems
    assert any("no visible focus on BUTTON" in p for p in problems), problems
