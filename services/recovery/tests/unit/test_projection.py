"""The in-memory projection, the read model view, emergency stop marks."""

from __future__ import annotations

from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus
from contracts.taxonomy import FailureClass
from recovery.decide import decide
from recovery.projection import Projection
from recovery.view import view_of
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    completed,
    dispatched,
    failed,
    inventory,
    rng,
    sdxl,
    submitted,
)

STOP = EmergencyStopRequested(
    event_id="s", job_id="-", occurred_at=T0, source="t", reason="fire drill"
)
RESUMED = DispatchResumed(event_id="r", job_id="-", occurred_at=T0, source="t")


def test_counts_follow_every_status_change() -> None:
    p = Projection()
    for event in (submitted("a"), submitted("b"), dispatched("a"), completed("a")):
        p.apply(event)
    assert p.counts[JobStatus.COMPLETED] == 1 and p.counts[JobStatus.SUBMITTED] == 1
    assert p.counts[JobStatus.DISPATCHED] == 0


def test_an_event_that_changes_nothing_reports_no_change() -> None:
    p = Projection()
    p.apply(submitted("a"))
    assert p.apply(submitted("a")) == []


def test_emergency_stop_marks_jobs_in_flight_and_resume_clears_the_mark() -> None:
    p = Projection()
    for event in (submitted("a"), dispatched("a"), submitted("b"), dispatched("b"), completed("b")):
        p.apply(event)
    (marked,) = p.apply(STOP)
    assert marked.job_id == "a" and "fire drill" in (view_of(marked).user_message or "")
    p.apply(submitted("c"))
    assert p.jobs["c"].paused is not None
    assert {s.job_id for s in p.apply(RESUMED)} == {"a", "c"}
    assert view_of(p.jobs["a"]).user_message is None


def test_the_view_shows_params_history_and_backends_tried() -> None:
    p = Projection()
    failure = classified(FailureClass.BACKEND_ERROR, job_id="a")
    for event in (submitted("a", sdxl()), dispatched("a"), failed("a"), failure):
        p.apply(event)
    decision = decide(p.get("a"), failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())
    p.apply(decision.to_event("t"))
    shown = view_of(p.get("a"))
    assert shown.status is JobStatus.RECOVERING and shown.retry_count == 1
    assert shown.original_params["batch_size"] == 4 and shown.current_params["batch_size"] == 4
    assert shown.backends_tried == ["gpu-a"] and shown.last_failure_class == "BACKEND_ERROR"
    assert (
        shown.recovery_history[0].strategy == "RETRY" and shown.recovery_history[0].success is None
    )


def test_changed_jobs_are_dirty_until_taken_and_restored_ones_are_clean() -> None:
    p = Projection()
    p.apply(submitted("a"))
    p.apply(submitted("b"))
    assert [s.job_id for s in p.take_dirty()] == ["a", "b"]
    assert p.take_dirty() == []
    again = Projection()
    again.restore(list(p.jobs.values()), 7)
    assert again.jobs == p.jobs and again.counts == p.counts and again.take_dirty() == []
    assert again.seq == 7
