"""A job refused at dispatch (validation) used attempt 1: status, budgets and a manual
retry all count it, so the retry is attempt 2 and is not taken for a done attempt."""

from __future__ import annotations

from contracts.job import JobRetryRequested
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus
from contracts.recovery import Dispatch
from contracts.taxonomy import FailureClass
from recovery.decide import decide
from recovery.strategies.operator import decide_manual_retry
from recovery.view import view_of
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    failed,
    fold,
    inventory,
    rng,
    submitted,
)


def rejected_and_aborted():  # type: ignore[no-untyped-def]
    failure = classified(FailureClass.MODEL_MISSING)
    state = fold(submitted(), failed(attempt=1, backend_id="gpu-a"), failure)
    decision = decide(state, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())
    assert decision.terminal
    return fold(decision.to_event("t"), state=state)


def test_a_rejection_at_dispatch_counts_as_attempt_one_on_that_backend() -> None:
    state = fold(submitted(), failed(attempt=1, backend_id="gpu-a"))
    view = view_of(state)
    assert state.status is JobStatus.FAILED
    assert view.attempt == 1 and view.backends_tried == ["gpu-a"]


def test_a_manual_retry_after_a_rejection_dispatches_attempt_two() -> None:
    state = rejected_and_aborted()
    assert state.status is JobStatus.ABORTED and state.attempt == 1
    request = JobRetryRequested(event_id="r1", job_id="job-1", occurred_at=T0, source="t")
    state = fold(request, state=state)
    decision = decide_manual_retry(state, request, T0)
    assert decision is not None
    dispatch = next(a for a in decision.actions if isinstance(a, Dispatch))
    assert dispatch.attempt == 2
    assert fold(decision.to_event("t"), state=state).status is JobStatus.RECOVERING
