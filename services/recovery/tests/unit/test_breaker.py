"""The circuit breaker: a failure rate over a count/time window opens it, one probe in
half-open closes it, two failed probes re-open it for longer; crashes count once, stalls
need a second job. Times are plain numbers (the injected clock)."""

from __future__ import annotations

from contracts.backend import BreakerState
from contracts.taxonomy import FailureClass
from recovery.breaker import (
    Breaker,
    BreakerConfig,
    effective_state,
    open_for,
    quarantine,
    record_failure,
    record_neutral,
    record_success,
    restarted,
    tick,
)

CFG = BreakerConfig(
    window_calls=10,
    window_s=60,
    min_calls=4,
    failure_rate=0.5,
    open_timeout_s=30,
    max_open_s=100,
    quarantine_s=10,
    incident_s=20,
    stall_window_s=120,
)
S = BreakerState
C = FailureClass


def run(b: Breaker, *outcomes: tuple[str, float]) -> Breaker:
    """Apply ('ok'|'fail', time) pairs with distinct event ids."""
    for i, (kind, t) in enumerate(outcomes):
        event = f"e{i}-{kind}-{t}"
        if kind == "ok":
            b = record_success(b, event, t, CFG)
        else:
            b = record_failure(b, event, t, CFG, "boom", C.BACKEND_ERROR)
    return b


def opened(at: float = 0.0) -> Breaker:
    return run(Breaker("a"), *(("fail", at) for _ in range(4)))


def test_too_few_calls_never_open_it_whatever_the_rate() -> None:
    b = run(Breaker("a"), ("fail", 0), ("fail", 1), ("fail", 2))
    assert b.state is S.CLOSED and b.failures == 3


def test_a_failure_rate_at_the_threshold_with_enough_calls_opens_it() -> None:
    b = run(Breaker("a"), ("ok", 0), ("ok", 1), ("fail", 2), ("fail", 3))
    assert (b.state, b.opened_at, b.open_until) == (S.OPEN, 3, 33)
    assert "2/4 calls failed" in b.reason and b.calls == ()


def test_a_low_failure_rate_keeps_it_closed() -> None:
    b = run(Breaker("a"), ("ok", 0), ("ok", 1), ("ok", 2), ("fail", 3), ("ok", 4))
    assert b.state is S.CLOSED and b.failures == 1


def test_calls_older_than_the_window_or_beyond_its_count_drop_out() -> None:
    old = run(Breaker("a"), ("fail", 0), ("fail", 1), ("fail", 2), ("ok", 100))
    assert old.state is S.CLOSED and old.failures == 0
    many = run(Breaker("a"), *(("ok", float(t)) for t in range(15)))
    assert len(many.calls) == CFG.window_calls


def test_a_redelivered_event_counts_once() -> None:
    b = Breaker("a")
    for _ in range(5):
        b = record_failure(b, "same", 1.0, CFG, "", C.BACKEND_ERROR)
        b = record_success(b, "ok-same", 1.0, CFG)
    assert b.state is S.CLOSED and len(b.calls) == 2


def test_one_crash_that_loses_many_prompts_counts_once() -> None:
    b = Breaker("a")
    for i, cls in enumerate((C.INTERRUPTED, C.BACKEND_UNREACHABLE, C.INTERRUPTED)):
        b = record_failure(b, f"lost{i}", 10 + i, CFG, "", cls, f"job{i}")
    b = run(b, ("ok", 13))
    assert b.state is S.CLOSED and b.failures == 1
    later = record_failure(b, "next-crash", 40, CFG, "", C.INTERRUPTED, "j")
    assert later.failures == 2  # a crash after the incident window is a new incident


def test_separate_crashes_count_in_the_failure_rate() -> None:
    b = run(Breaker("a"), ("ok", 0), ("ok", 1))
    b = record_failure(b, "crash1", 2, CFG, "lost", C.INTERRUPTED, "j1")
    b = record_failure(b, "crash2", 30, CFG, "lost", C.BACKEND_WEDGED, "j2")
    assert b.state is S.OPEN and "2/4" in b.reason


def test_a_stall_counts_only_when_another_job_stalled_there() -> None:
    b = record_failure(Breaker("a"), "s1", 0, CFG, "", C.STALLED, "job1")
    b = record_failure(b, "s2", 5, CFG, "", C.STALLED, "job1")  # the same job again
    assert b.failures == 0 and len(b.stalls) == 2
    b = record_failure(b, "s3", 10, CFG, "", C.STALLED, "job2")
    assert b.failures == 1 and b.stalls == ()


def test_a_lone_stall_long_ago_does_not_corroborate_a_new_one() -> None:
    b = record_failure(Breaker("a"), "s1", 0, CFG, "", C.STALLED, "job1")
    b = record_failure(b, "s2", 500, CFG, "", C.STALLED, "job2")
    assert b.failures == 0 and b.stalls == (("job2", 500),)


def test_open_ignores_everything_until_its_time_is_up() -> None:
    b = opened()
    assert record_failure(b, "x", 10, CFG) is b
    assert record_success(b, "y", 10, CFG) is b
    assert tick(b, 29.9, CFG) is b
    assert effective_state(b, 29.9, CFG) is S.OPEN
    assert effective_state(b, 30, CFG) is S.HALF_OPEN


def test_tick_leaves_closed_and_half_open_alone() -> None:
    closed = Breaker("a")
    assert tick(closed, 1e9, CFG) is closed
    half = tick(opened(), 30, CFG)
    assert half.state is S.HALF_OPEN and tick(half, 1e9, CFG) is half


def test_the_probe_succeeding_closes_it() -> None:
    half = tick(opened(), 30, CFG)
    closed = record_success(half, "probe", 31, CFG)
    assert (closed.state, closed.reopens, closed.cause) == (S.CLOSED, 0, "probe")
    assert closed.calls == (("probe", 31, "ok"),)


def test_two_probes_failing_reopen_it_for_twice_as_long_then_it_probes_again() -> None:
    one = record_failure(tick(opened(), 30, CFG), "500", 31, CFG, "", C.BACKEND_ERROR)
    assert one.state is S.HALF_OPEN  # one probe's fault may travel with its job
    b = record_failure(one, "500b", 33, CFG, "", C.BACKEND_ERROR)
    assert (b.state, b.reopens, b.open_until, b.reason) == (S.OPEN, 1, 93, "the probes failed")
    again = tick(b, 93, CFG)
    assert again.state is S.HALF_OPEN  # a one-shot HTTP 500 does not kill it for good
    assert record_success(again, "fine", 94, CFG).state is S.CLOSED


def test_open_time_doubles_up_to_its_cap() -> None:
    assert [open_for(CFG, n) for n in (0, 1, 2, 3, 99)] == [30, 60, 100, 100, 100]


def test_quarantine_opens_it_now_and_is_idempotent() -> None:
    b = quarantine(Breaker("a"), "q1", 5, "wedged", CFG)
    assert (b.state, b.open_until, b.reason) == (S.OPEN, 15, "wedged")
    assert quarantine(b, "q1", 6, "again", CFG) is b
    longer = quarantine(tick(b, 40, CFG), "q2", 40, "again", CFG)  # still wedged at the probe
    assert (longer.reopens, longer.open_until) == (1, 60)


def test_a_quarantine_while_open_restarts_its_open_time() -> None:
    b = quarantine(opened(), "q", 10, "wedged", CFG)
    assert (b.open_until, b.cause, b.reopens) == (20, "q", 0)


def test_a_restart_after_it_opened_lets_a_probe_judge_the_new_process_at_once() -> None:
    """A wedged worker quarantined at 5 (open until 15) and restarted at 6: half-open at 6,
    not at 15. A restart from before it opened changes nothing, nor does one while closed."""
    b = quarantine(Breaker("a"), "q1", 5, "wedged", CFG)
    fresh = restarted(b, "r1", 6, CFG)
    assert (fresh.state, fresh.cause) == (S.HALF_OPEN, "r1:half-open")
    assert restarted(b, "r0", 4, CFG) is b
    closed = Breaker("a")
    assert restarted(closed, "r2", 6, CFG) is closed


def test_a_jobs_own_failure_is_a_verdict_only_for_a_probe() -> None:
    closed = run(Breaker("a"), ("ok", 0))
    assert record_neutral(closed, "oom", 1, CFG) is closed
    still_open = opened()
    assert record_neutral(still_open, "oom", 1, CFG) is still_open
    probed = record_neutral(tick(opened(), 30, CFG), "oom", 31, CFG)
    assert probed.state is S.CLOSED  # the probe ran; the job's own OOM says nothing bad


def test_in_half_open_only_the_probes_failure_counts() -> None:
    half = tick(opened(), 30, CFG)  # open_until 30
    late = record_failure(half, "lost", 31, CFG, "", C.INTERRUPTED, "j", dispatched_at=10)
    assert late is half  # lost by the crash that opened it, reported late
    probe = record_failure(half, "p", 32, CFG, "", C.BACKEND_ERROR, "j", dispatched_at=30.5)
    assert probe.state is S.HALF_OPEN and probe.failures == 1
    second = record_failure(probe, "p2", 33, CFG, "", C.BACKEND_ERROR, "k", dispatched_at=32.5)
    assert second.state is S.OPEN and second.reopens == 1


def test_a_failed_probe_then_one_that_runs_closes_it() -> None:
    failed = record_failure(tick(opened(), 30, CFG), "p1", 31, CFG, "", C.INTERRUPTED, "j")
    assert record_success(failed, "p2", 35, CFG).state is S.CLOSED
