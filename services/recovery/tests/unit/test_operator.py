"""Operator decisions: cancel (interrupt by prompt id, then end) and manual retry."""

from __future__ import annotations

from contracts.envelope import derive_event_id
from contracts.job import JobCancelRequested, JobRetryRequested
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus
from contracts.recovery import Abort, Dispatch, Interrupt
from contracts.taxonomy import FailureClass, Strategy
from recovery import budget
from recovery.decide import decide
from recovery.decision import DECIDED_ROLE
from recovery.strategies.operator import decide_cancel, decide_manual_retry
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    completed,
    failed_state,
    fold,
    inventory,
    rng,
    running,
    sd15,
)

CANCEL = JobCancelRequested(
    event_id="c1",
    job_id="job-1",
    occurred_at=T0,
    source="t",
    reason="wrong prompt",
    requested_by="ana",
)


def retry(force: bool = False) -> JobRetryRequested:
    return JobRetryRequested(event_id="r1", job_id="job-1", occurred_at=T0, source="t", force=force)


def aborted():
    failure = classified(FailureClass.PERMISSION_DENIED)
    state = failed_state(failure, sd15(batch=2))
    decision = decide(state, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())
    return fold(decision.to_event("t"), state=state)


def test_cancel_interrupts_our_running_prompt_by_id_and_ends_the_job() -> None:
    state = fold(CANCEL, state=running())
    decision = decide_cancel(state, CANCEL, T0)
    assert decision is not None and decision.terminal and decision.strategy is Strategy.CANCEL
    interrupt, abort = decision.actions
    assert interrupt == Interrupt(backend_id="gpu-a", prompt_id="job-1-p1-0", reason="cancelled")
    assert isinstance(abort, Abort) and abort.cancelled and "ana" in abort.reason
    assert decision.event_id == derive_event_id("c1", DECIDED_ROLE)
    assert fold(decision.to_event("t"), state=state).status is JobStatus.CANCELLED


def test_cancel_of_a_finished_job_is_not_answered() -> None:
    state = fold(completed(), CANCEL, state=running())
    assert decide_cancel(state, CANCEL, T0) is None


def test_manual_retry_of_an_aborted_job_dispatches_the_original_with_a_fresh_budget() -> None:
    state = fold(retry(), state=aborted())
    decision = decide_manual_retry(state, retry(), T0)
    assert decision is not None and decision.strategy is Strategy.RETRY
    dispatch = decision.actions[-1]
    assert isinstance(dispatch, Dispatch) and dispatch.attempt == 2
    assert dispatch.workflows == [state.original]
    after = fold(decision.to_event("t"), state=state)
    assert after.status is JobStatus.RECOVERING
    assert budget.attempts_used(after) == 1 and after.epoch == 1


def test_manual_retry_of_a_completed_job_needs_force() -> None:
    done = fold(completed(), state=running())
    assert decide_manual_retry(fold(retry(), state=done), retry(), T0) is None
    assert decide_manual_retry(fold(retry(True), state=done), retry(True), T0) is not None


def test_a_retry_request_is_answered_once() -> None:
    state = fold(retry(), state=aborted())
    decision = decide_manual_retry(state, retry(), T0)
    assert decision is not None
    after = fold(decision.to_event("t"), state=state)
    assert decide_manual_retry(after, retry(), T0) is None
