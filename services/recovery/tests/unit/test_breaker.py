"""The circuit breaker state machine: closed → open → half-open → closed."""

from __future__ import annotations

from contracts.backend import BreakerState
from recovery.breaker import (
    Breaker,
    BreakerConfig,
    effective_state,
    quarantine,
    record_failure,
    record_success,
    tick,
)

CFG = BreakerConfig(failure_threshold=3, window_s=60, open_timeout_s=30, half_open_successes=2)
S = BreakerState


def failures(b: Breaker, *times: float) -> Breaker:
    for i, t in enumerate(times):
        b = record_failure(b, f"f{i}", t, CFG)
    return b


def test_n_failures_within_the_window_open_the_breaker() -> None:
    assert failures(Breaker("a"), 0, 10).state is S.CLOSED
    opened = failures(Breaker("a"), 0, 10, 20)
    assert (opened.state, opened.opened_at, opened.cause) == (S.OPEN, 20, "f2")


def test_failures_older_than_the_window_do_not_count() -> None:
    assert failures(Breaker("a"), 0, 10, 100).state is S.CLOSED


def test_a_redelivered_failure_counts_once() -> None:
    b = Breaker("a")
    for _ in range(5):
        b = record_failure(b, "same", 1.0, CFG)
    assert b.state is S.CLOSED and len(b.failures) == 1


def test_open_becomes_half_open_after_the_timeout_only() -> None:
    opened = failures(Breaker("a"), 0, 1, 2)
    assert tick(opened, 31, CFG).state is S.OPEN
    assert tick(opened, 32, CFG).state is S.HALF_OPEN
    assert effective_state(opened, 40, CFG) is S.HALF_OPEN


def test_m_successes_while_half_open_close_it() -> None:
    half = tick(failures(Breaker("a"), 0, 1, 2), 40, CFG)
    one = record_success(half, "s1", 41, CFG)
    assert one.state is S.HALF_OPEN
    assert record_success(one, "s1", 41, CFG).state is S.HALF_OPEN
    closed = record_success(one, "s2", 42, CFG)
    assert closed.state is S.CLOSED and closed.failures == ()


def test_a_failure_while_half_open_opens_it_again() -> None:
    half = tick(failures(Breaker("a"), 0, 1, 2), 40, CFG)
    again = record_failure(half, "x", 41, CFG)
    assert (again.state, again.opened_at) == (S.OPEN, 41)


def test_successes_while_closed_or_open_change_nothing() -> None:
    closed = failures(Breaker("a"), 0)
    assert record_success(closed, "s", 1, CFG) == closed
    opened = failures(Breaker("a"), 0, 1, 2)
    assert record_success(opened, "s", 3, CFG) == opened


def test_quarantine_opens_from_any_state_and_is_idempotent() -> None:
    q = quarantine(Breaker("a"), "d1", 5, "GPU_FAULT")
    assert (q.state, q.reason) == (S.OPEN, "GPU_FAULT")
    assert quarantine(q, "d1", 9, "GPU_FAULT") == q
