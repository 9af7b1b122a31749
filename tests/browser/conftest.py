"""Browser tests: the system Chromium (Debian package) driven by Playwright, against the
whole system (real nats-server, the five services as processes, the simulator).

Playwright's own browser download is not used: ``executable_path`` points at the system
browser (``CR_CHROMIUM``, else ``chromium`` on PATH; ``make test`` installs it). A missing
browser fails the tests with what to do, never skips them."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from tests.support.natsd import NatsServer
from tests.support.system import System, running_system

TOKEN = "console-test-token"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "browser"
A11Y_SCRIPT = (Path(__file__).parent / "a11y.js").read_text()


def chromium_path() -> str:
    """The system Chromium, or a failure saying how to get it."""
    found = os.environ.get("CR_CHROMIUM") or next(
        filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser"))), None
    )
    if not found:
        pytest.fail(
            "no Chromium for the browser tests: `make chromium` (apt-get install chromium) "
            "or set CR_CHROMIUM to a Chromium/Chrome binary",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    """The whole system, its API behind a bearer token."""
    env = {"CR_SUBMITTER_API_TOKENS": TOKEN}
    async with running_system(nats_server.url, tmp_path_factory.mktemp("ui"), env=env) as sys_:
        yield sys_


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh browser context (no cookie) and page; a screenshot is kept afterwards."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    tab = await context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    with contextlib.suppress(PlaywrightError):  # a crashed page must not hide the failure
        await tab.screenshot(path=ARTIFACTS / f"{name}-last.png", full_page=True)
    await context.close()


async def screenshot(page: Page, name: str) -> None:
    """Keep a full-page screenshot in .artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def accessibility_problems(page: Page) -> list[str]:
    """Labels and contrast (in the page), then focus order and visible focus by tabbing
    (call it on a page just loaded: nothing focused or clicked yet)."""
    problems: list[str] = await page.evaluate(A11Y_SCRIPT)
    await page.keyboard.press("Tab")
    first = await page.evaluate("document.activeElement.className")
    if first != "skip":
        problems.append(f"the first Tab stop is {first!r}, not the skip link")
    for _ in range(12):
        focus = await page.evaluate(
            "(() => { const e = document.activeElement; const s = getComputedStyle(e);"
            " return [e.tagName, e.textContent.trim().slice(0, 30), s.outlineStyle,"
            " parseFloat(s.outlineWidth)]; })()"
        )
        tag, text, style, width = focus
        if tag != "BODY" and (style == "none" or width < 2):
            problems.append(f"no visible focus on {tag} {text!r}")
        await page.keyboard.press("Tab")
    return problems
