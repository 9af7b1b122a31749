"""The fold: allowed transitions, stale events, idempotence, replay determinism."""

from __future__ import annotations

import pytest

from contracts.job import JobProgressed, JobRetryRequested
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus
from contracts.taxonomy import FailureClass
from recovery.decide import decide
from recovery.errors import IllegalTransitionError, UnknownJobError
from recovery.state_machine import TRANSITIONS, apply
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    completed,
    dispatched,
    failed,
    fold,
    inventory,
    rng,
    sd15,
    submitted,
)

S = JobStatus


def progress(attempt: int = 1, percent: float = 50.0) -> JobProgressed:
    return JobProgressed(
        event_id=f"p{attempt}:{percent}",
        job_id="job-1",
        attempt=attempt,
        occurred_at=T0,
        source="t",
        backend_id="gpu-a",
        prompt_id="x",
        percent=percent,
    )


def test_the_happy_path_reaches_completed() -> None:
    state = fold(submitted(), dispatched(), progress(), completed())
    assert state.status is S.COMPLETED and state.progress == 100.0
    assert state.backends_tried == ("gpu-a",) and state.attempt == 1


def test_a_failure_is_recorded_and_moves_to_failed() -> None:
    state = fold(submitted(), dispatched(), failed(), classified(FailureClass.BACKEND_ERROR))
    assert state.status is S.FAILED
    assert state.last_failure_class == "BACKEND_ERROR"


def test_a_decision_moves_to_recovering_and_the_next_dispatch_to_dispatched() -> None:
    failure = classified(FailureClass.BACKEND_ERROR)
    state = fold(submitted(), dispatched(), failed(), failure)
    decision = decide(state, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())
    state = fold(decision.to_event("t"), state=state)
    assert (state.status, state.planned_attempt) == (S.RECOVERING, 2)
    state = fold(dispatched(attempt=2), completed(attempt=2), state=state)
    assert state.status is S.COMPLETED
    assert state.history[-1].success is True


def test_a_late_success_of_the_failed_attempt_completes_the_job() -> None:
    failure = classified(FailureClass.TIMEOUT)
    state = fold(submitted(), dispatched(), failed(), failure)
    decision = decide(state, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())
    state = fold(decision.to_event("t"), completed(attempt=1), state=state)
    assert state.status is S.COMPLETED
    assert fold(dispatched(attempt=2), state=state) is state


def test_events_of_unknown_jobs_raise() -> None:
    with pytest.raises(UnknownJobError):
        apply(None, dispatched())


def test_an_illegal_transition_raises() -> None:
    with pytest.raises(IllegalTransitionError):
        fold(submitted(), completed())


def test_late_events_of_older_attempts_change_nothing() -> None:
    failure = classified(FailureClass.BACKEND_ERROR)
    state = fold(submitted(), dispatched(), failed(), failure)
    decision = decide(state, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())
    state = fold(decision.to_event("t"), dispatched(attempt=2), state=state)
    assert fold(failed(attempt=1, event_id="late"), progress(attempt=1), state=state) is state


def test_events_after_the_end_change_nothing() -> None:
    state = fold(submitted(), dispatched(), completed())
    assert fold(failed(), progress(), state=state) is state


def test_applying_any_event_twice_is_a_no_op() -> None:
    events = [submitted(), dispatched(), failed(), classified(FailureClass.BACKEND_ERROR)]
    state = fold(*events)
    for event in events:
        assert apply(state, event) is state


def test_replay_gives_the_same_state_every_time() -> None:
    failure = classified(FailureClass.BACKEND_ERROR)
    prefix = fold(submitted(), dispatched(), failed(), failure)
    decision = decide(
        prefix, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng()
    ).to_event("t")
    events = [
        submitted(),
        dispatched(),
        failed(),
        failure,
        decision,
        dispatched(attempt=2),
        completed(attempt=2),
    ]
    assert fold(*events) == fold(*events)
    doubled = [e for event in events for e in (event, event)]
    assert fold(*doubled) == fold(*events)


def test_terminal_statuses_can_only_be_left_by_a_retry() -> None:
    for status in (S.COMPLETED, S.ABORTED, S.CANCELLED):
        assert TRANSITIONS[status] == frozenset({S.RECOVERING})


def test_a_retry_request_with_a_policy_replaces_the_job_policy() -> None:
    request = JobRetryRequested(
        event_id="r1",
        job_id="job-1",
        occurred_at=T0,
        source="t",
        policy=RecoveryPolicy(max_attempts=9),
    )
    state = fold(submitted(workflow=sd15()), request)
    assert state.policy is not None and state.policy.max_attempts == 9
    assert "r1" in state.requests


def test_another_part_of_a_decided_attempt_failing_does_not_undo_the_decision() -> None:
    # a split attempt: both parts lose their socket; the first failure is decided, the
    # second arrives after the decision; the next attempt's dispatch must still fold
    first = classified(FailureClass.BACKEND_UNREACHABLE, event_id="part0")
    state = fold(submitted(), dispatched(parts=2), failed(), first)
    decision = decide(state, first, RecoveryPolicy(), inventory(backend("gpu-b")), T0, rng())
    state = fold(decision.to_event("t"), state=state)
    assert state.status is S.RECOVERING
    second = classified(FailureClass.BACKEND_UNREACHABLE, event_id="part1")
    state = fold(failed(event_id="failed-part1"), second, state=state)
    assert state.status is S.RECOVERING and "part1" in state.failures
    assert fold(dispatched(attempt=2, backend_id="gpu-b"), state=state).status is S.DISPATCHED


def test_a_dispatch_folds_even_while_a_failure_waits_for_its_decision() -> None:
    state = fold(submitted(), dispatched(), failed())
    assert fold(dispatched(attempt=2), state=state).status is S.DISPATCHED
