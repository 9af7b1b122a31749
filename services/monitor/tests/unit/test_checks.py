"""Timeout, stall and wedge are told apart from what the websocket and /queue showed."""

from __future__ import annotations

import pytest

from monitor.checks import BackendPulse, observe
from monitor.watch import PromptWatch

NOW = 1000.0
WALL = 2_000_000_000.0


def prompt(**state: object) -> PromptWatch:
    values: dict[str, object] = {
        "prompt_id": "p",
        "job_id": "j",
        "attempt": 1,
        "part": 0,
        "backend_id": "b0",
        "dispatched_at": NOW - 500,
        "last_progress_at": NOW - 1,
        "stall_window_s": 60.0,
    }
    return PromptWatch(**{**values, **state})  # type: ignore[arg-type]


ALIVE = BackendPulse(connected=True, quiet_s=1.0, wedge_window_s=120.0)
SILENT = BackendPulse(connected=True, quiet_s=300.0, wedge_window_s=120.0)


@pytest.mark.parametrize(
    ("watched", "pulse", "expected"),
    [
        (prompt(running=True), ALIVE, None),
        (prompt(running=True, last_progress_at=NOW - 61), ALIVE, "stalled"),
        # a started prompt that goes quiet is stalled, not wedged, however quiet the backend
        (prompt(running=True, last_progress_at=NOW - 61), SILENT, "stalled"),
        (prompt(deadline_at=WALL - 1, running=True), ALIVE, "timeout"),
        (prompt(deadline_at=WALL + 1), ALIVE, None),
        (prompt(), ALIVE, None),
        (prompt(), SILENT, "wedged"),
        # /queue lists it as running, yet it never started: a dead worker
        (prompt(listed_running=True), SILENT, "wedged"),
        # silence while our socket is down says nothing
        (prompt(), BackendPulse(connected=False, quiet_s=300.0, wedge_window_s=120.0), None),
        # dispatched just now: the window has not passed for this prompt
        (prompt(dispatched_at=NOW - 10), SILENT, None),
    ],
)
def test_each_prompt_state_gets_the_right_observation(
    watched: PromptWatch, pulse: BackendPulse, expected: str | None
) -> None:
    found = observe(watched, pulse, NOW, WALL)
    assert (found.kind if found else None) == expected


def test_a_wedge_says_whether_the_prompt_was_listed_as_running() -> None:
    found = observe(prompt(listed_running=True), SILENT, NOW, WALL)
    assert found is not None and "listed as running" in found.message
    assert not found.queued, "the prompt a dead worker holds is not a queued victim"
    behind = observe(prompt(), SILENT, NOW, WALL)
    assert behind is not None and behind.queued and "queued" in behind.message


def test_a_backend_unreachable_past_the_grace_gives_its_prompts_up() -> None:
    down = BackendPulse(
        connected=False, quiet_s=5.0, wedge_window_s=120.0, down_s=31.0, unreachable_grace_s=30.0
    )
    found = observe(prompt(), down, now=1000.0, now_wall=0.0)
    assert found is not None and found.kind == "ws_closed"
    briefly = BackendPulse(
        connected=False, quiet_s=5.0, wedge_window_s=120.0, down_s=3.0, unreachable_grace_s=30.0
    )
    assert observe(prompt(), briefly, now=1000.0, now_wall=0.0) is None


def test_a_prompt_posted_before_our_socket_is_back_gets_its_own_grace() -> None:
    """The backend answers HTTP again (a dispatch goes out) while our websocket to it is
    still reconnecting: the minutes it was down before are not held against this prompt."""
    down = BackendPulse(
        connected=False, quiet_s=5.0, wedge_window_s=120.0, down_s=300.0, unreachable_grace_s=30.0
    )
    fresh = prompt(dispatched_at=NOW - 2)
    assert observe(fresh, down, now=NOW, now_wall=0.0) is None
    assert observe(fresh, down, now=NOW + 27.0, now_wall=0.0) is None  # 29 s of its own
    found = observe(fresh, down, now=NOW + 29.0, now_wall=0.0)
    assert found is not None and found.kind == "ws_closed" and "31s" in found.message
