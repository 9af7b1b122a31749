"""A backend's liveness is a fold of observations at given times (pure, no clock)."""

from __future__ import annotations

from monitor.watch import PromptWatch
from monitor.watchdog import DEAF_AFTER_S, Liveness, lost_due, progress_due

T0 = 1000.0


def prompt(**state: object) -> PromptWatch:
    values: dict[str, object] = {
        "prompt_id": "p",
        "job_id": "j",
        "attempt": 1,
        "part": 0,
        "backend_id": "b0",
        "dispatched_at": T0,
    }
    return PromptWatch(**{**values, **state})  # type: ignore[arg-type]


def test_a_reconnect_does_not_restart_the_wedge_window() -> None:
    live = Liveness(queue_moved_at=T0)
    live.opened(T0)
    live.closed(T0 + 50)
    live.opened(T0 + 51)
    assert live.pulse(T0 + 130, 120, 30).quiet_s == 130


def test_a_shorter_queue_alone_is_not_movement() -> None:
    """Deleted prompts shorten the queue of a wedged backend too."""
    live = Liveness(queue_moved_at=T0)
    for at, remaining in enumerate((9, 8, None, 7, 3), start=1):
        live.status(remaining, T0 + at)
    assert live.queue_moved_at == T0 and live.queue_remaining == 3


def test_other_prompts_running_than_last_time_is_movement() -> None:
    live = Liveness(queue_moved_at=T0)
    live.listed(["a"], T0 + 1)
    live.listed(["a"], T0 + 2)
    assert live.queue_moved_at == T0
    live.listed(["b"], T0 + 3)
    assert live.queue_moved_at == T0 + 3


def test_an_outage_is_timed_from_the_first_drop_and_ends_on_reconnect() -> None:
    live = Liveness(queue_moved_at=T0)
    live.opened(T0)
    live.closed(T0 + 10)
    live.closed(T0 + 15)
    assert live.pulse(T0 + 40, 120, 30).down_s == 30
    live.opened(T0 + 41)
    pulse = live.pulse(T0 + 50, 120, 30)
    assert pulse.connected and pulse.down_s == 0


def test_a_socket_is_deaf_only_when_both_it_and_the_prompt_are_old_enough() -> None:
    live = Liveness(queue_moved_at=T0)
    live.opened(T0)
    listed = prompt(listed_running=True)
    late = T0 + DEAF_AFTER_S + 1
    assert live.deaf([listed], T0 + DEAF_AFTER_S) is None
    assert live.deaf([listed], late) is listed
    assert live.deaf([prompt(listed_running=True, running=True)], late) is None
    assert live.deaf([prompt()], late) is None
    assert live.deaf([prompt(listed_running=True, dispatched_at=late - 1)], late) is None
    live.opened(late - 1)
    assert live.deaf([listed], late) is None
    live.closed(late)
    assert live.deaf([listed], late + 100) is None


def test_lost_waits_for_the_grace_and_progress_for_its_gap() -> None:
    assert not lost_due(prompt(), T0 + 3, 3.0)
    assert lost_due(prompt(), T0 + 3.1, 3.0)
    sent = prompt(last_progress_sent=T0)
    assert not progress_due(sent, T0 + 0.4, 1, 10, 0.5)
    assert progress_due(sent, T0 + 0.5, 1, 10, 0.5)
    assert progress_due(sent, T0 + 0.1, 10, 10, 0.5)
