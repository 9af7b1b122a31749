"""The whole-loop bench's ramp, verdicts, CPU parsing and bottleneck naming."""

from __future__ import annotations

import math

import pytest

from contracts import subjects
from tests.bench.loop_figures import (
    DISPATCH,
    RUN,
    Evidence,
    Step,
    backlogs,
    bottleneck,
    box_shares,
    box_ticks,
    cpu_seconds,
    half_line,
    name_bottleneck,
    next_rate,
    percentile,
    shares,
    step_line,
    sustained,
    verdict,
    wait_seconds,
)
from tests.bench.loop_tracker import Sent, Tracker


def step(rate: float, latencies: list[float], **stages: list[float]) -> Step:
    """A step whose every submitted job completed with these latencies."""
    named = {DISPATCH: stages.get("dispatch", []), RUN: stages.get("run", [])}
    return Step(rate, submitted=len(latencies), latencies=latencies, stages=named)


def test_percentile_is_nearest_rank_and_nan_without_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0, 1.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_a_step_whose_backlog_grew_is_not_sustained_though_its_p99_is_within_limit() -> None:
    steady = [0.1, 0.3] * 20
    assert verdict(step(30, steady)) is None
    growing = [0.1 + 0.1 * i for i in range(40)]
    assert verdict(step(30, growing)) == (
        "falling behind: p50 0.50 s for the first quarter, 3.50 s for the last"
    )
    assert verdict(step(30, [0.1, 0.2, 0.3, 4.0, 4.5, 4.9, 4.9])) is None  # too few to tell


def test_a_step_is_sustained_only_when_all_completed_none_failed_and_p99_within_limit() -> None:
    assert verdict(step(5, [0.1] * 100)) is None
    assert verdict(step(5, [0.1] * 98 + [6.0, 7.0])) == "p99 6.00 s over 5 s"
    failed = Step(5, submitted=3, failed=1, latencies=[0.1, 0.1])
    assert verdict(failed) == "1 of 3 jobs failed"
    unfinished = Step(5, submitted=3, latencies=[0.1])
    assert verdict(unfinished) == "a job was open over 5 s (2 of 3 open then)"
    cut = Step(5, submitted=2, latencies=[0.1, 0.1], cut_short=True)
    assert verdict(cut) == "a job was open over 5 s (0 of 2 open then)"


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], 5.0),
        ([(5.0, True)], 10.0),
        ([(5.0, True), (10.0, True), (20.0, True)], 40.0),
        ([(5.0, True), (10.0, True), (20.0, True), (40.0, False)], 30),
        ([(5.0, True), (10.0, True), (20.0, True), (40.0, False), (30, True)], 35),
        ([(5.0, True), (10.0, True), (20.0, True), (40.0, False), (30, False)], 25),
        ([(5.0, True), (10.0, True), (40.0, False), (30, False), (25, True)], None),
        ([(5.0, True), (10.0, False), (8, True)], 9),
        ([(5.0, False)], None),
        ([(5.0, True), (6.0, False)], None),
        ([(400.0, True)], 640.0),
        ([(640.0, True)], None),
    ],
)
def test_the_ramp_doubles_until_a_break_then_bisects_twice(
    history: list[tuple[float, bool]], expected: float | None
) -> None:
    assert next_rate(history, ceiling=640.0) == expected


def test_sustained_is_the_highest_rate_that_held() -> None:
    assert sustained([(5.0, True), (10.0, True), (20.0, False), (15.0, True)]) == 15.0
    assert sustained([(5.0, False)]) == 0.0


def test_cpu_seconds_are_user_plus_system_even_with_spaces_in_the_command_name() -> None:
    stat = "4242 (python -m x) S 1 4242 4242 0 -1 4194560 9 0 0 0 150 30 0 0 20 0 3 0 5 6 7"
    assert cpu_seconds(stat, ticks_per_s=100) == 1.8


def test_wait_seconds_are_the_runqueue_wait_of_schedstat() -> None:
    assert wait_seconds("936045 371998000 11\n") == 0.371998


def test_shares_are_percent_of_the_wall_time_for_processes_seen_twice() -> None:
    assert shares({"a": 1.0, "gone": 5.0}, {"a": 1.5, "new": 9.0}, wall_s=0.5) == {"a": 100.0}
    assert shares({"a": 1.0}, {"a": 2.0}, wall_s=0.0) == {}


def test_the_stage_that_grew_names_its_waiting_service_with_the_evidence() -> None:
    good = step(20, [0.1] * 10, dispatch=[0.03] * 10, run=[0.05] * 10)
    bad = step(40, [2.5] * 10, dispatch=[2.4] * 10, run=[0.3] * 10)
    cpu = {"submitter": 16.0, "nats-server": 15.0, "monitor": 14.0, "bench": 30.0, "sim": 1.0}
    pending = {"submitter-jobs": 146, "classifier": 0}
    seen = Evidence(cpu, {"submitter": 3.0}, pending, box_busy=60, box_iowait=4)
    assert name_bottleneck(good, bad, seen) == (
        "submitter (submit→dispatched p50 30 → 2400 ms at 40 jobs/s; "
        "submitter at 16 % of one core: waiting on I/O, not CPU-bound; "
        "box CPU 60 % busy, iowait 4 %; "
        "busiest bench 30 %, submitter 16 %, nats-server 15 %, monitor 14 %; "
        "backlog submitter-jobs 146)"
    )


def test_a_run_stage_that_grew_names_the_simulator_when_it_burns_more_than_the_monitor() -> None:
    good = step(20, [0.1], dispatch=[0.03], run=[0.05])
    bad = step(40, [2.5], dispatch=[0.04], run=[2.4])
    assert name_bottleneck(good, bad, Evidence({"monitor": 10.0})).startswith("monitor (")
    seen = Evidence({"monitor": 10.0, "simulator": 60.0}, {"simulator": 20.0}, box_busy=95.0)
    named = name_bottleneck(good, bad, seen)
    assert named.startswith("simulator (dispatched→completed")
    assert "simulator at 60 % of one core: the box's CPU is saturated" in named


def test_a_suspect_that_waited_for_a_cpu_longer_than_it_ran_is_called_starved() -> None:
    bad = step(40, [2.5], dispatch=[2.4], run=[0.1])
    seen = Evidence({"submitter": 19.0}, {"submitter": 35.0}, box_busy=99.0)
    named = name_bottleneck(None, bad, seen)
    assert "submitter at 19 % of one core: starved, it waited for a CPU 35 % of the time" in named


def test_a_service_saturating_its_core_is_named_whatever_stage_grew() -> None:
    bad = step(40, [2.5], dispatch=[2.4], run=[0.1])
    cpu = {"recovery": 97.0, "submitter": 20.0, "bench": 120.0}
    named = name_bottleneck(None, bad, Evidence(cpu))
    assert named.startswith("recovery (submit→dispatched p50 0 → 2400 ms")
    assert "recovery at 97 % of one core: CPU-bound" in named
    assert "backlog" not in named


def test_the_backlogs_are_the_stage_durables_and_the_deepest_when_another() -> None:
    pending = {"monitor-dispatches": 12, "analytics-events": 129}
    assert backlogs(RUN, pending) == [
        "backlog monitor-dispatches 12",
        "deepest analytics-events 129",
    ]
    assert backlogs(DISPATCH, pending) == [
        "backlog submitter-jobs 0",
        "deepest analytics-events 129",
    ]


def test_box_cpu_shares_count_busy_and_iowait_over_all_cores() -> None:
    before = box_ticks("cpu  100 0 50 800 50 0 0 0 0 0")
    after = box_ticks("cpu  250 0 100 1050 100 0 0 0 7 0")  # guest (7) is inside user
    assert box_shares(before, after) == (40.0, 10.0)
    assert box_shares(after, after) == (0.0, 0.0)


def test_a_step_counts_failures_and_splits_each_completed_job_into_its_stages() -> None:
    tracker = Tracker()
    tracker.seen = {
        "a": {subjects.JOB_DISPATCHED: 1.25, subjects.JOB_COMPLETED: 1.5},
        "b": {subjects.JOB_FAILED: 2.0},
        "c": {subjects.JOB_DISPATCHED: 1.0},
    }
    sent = [Sent(1.0, "a"), Sent(1.0, "b"), Sent(1.0, "c"), Sent(1.0, error=True)]
    result = tracker.summarise(10, sent, cut=False)
    assert (result.submitted, result.failed, result.latencies) == (4, 2, [0.5])
    assert result.stages == {DISPATCH: [0.25], RUN: [0.25]}
    assert tracker.oldest_open(sent, 0) == 2
    assert tracker.open_jobs() == 1


def test_the_bottleneck_is_read_at_the_first_broken_step_against_the_one_before() -> None:
    ok = step(20, [0.1], dispatch=[0.03], run=[0.05])
    broken = Step(40, submitted=2, latencies=[0.1], stages={DISPATCH: [0.9], RUN: [0.05]})
    later = Step(30, submitted=1, failed=1)
    steps = [(ok, Evidence()), (broken, Evidence({"submitter": 20.0})), (later, Evidence())]
    assert bottleneck(steps).startswith("submitter (submit→dispatched p50 30 → 900 ms at 40 ")


def test_a_ramp_that_never_broke_says_no_bottleneck_was_reached() -> None:
    steps = [(step(640, [0.1], dispatch=[0.05], run=[0.05]), Evidence())]
    assert bottleneck(steps).startswith("none reached (submitter (submit→dispatched p50 0 → 50")


def test_step_and_half_lines_print_the_figures_results_read() -> None:
    ok = step(20, [0.1, 0.3], dispatch=[0.04, 0.1], run=[0.06, 0.2])
    line = step_line(ok, None)
    assert "step    20 jobs/s      2 jobs   p50   100.0 ms   p99   300.0 ms" in line
    assert line.endswith("dispatched→completed   60.0 ms   sustained")
    half = half_line(ok)
    assert half.startswith("  at 50 % (20 jobs/s, 2 jobs)   p50   100.0 ms   p99   300.0 ms")
    assert half.endswith(
        "(all completed; p99 submit→dispatched 100 ms, dispatched→completed 200 ms)"
    )


def test_the_evidence_reads_in_one_log_line() -> None:
    seen = Evidence({"submitter": 16.4}, {"submitter": 65.0}, {"submitter-jobs": 3}, 99.0)
    assert seen.describe() == (
        "cpu submitter 16 % (waited 65 %); backlogs submitter-jobs 3; box 99 % busy"
    )
