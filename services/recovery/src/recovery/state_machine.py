"""A job's state as a fold of its events: ``apply(state, event) -> state``.

Statuses move only along `TRANSITIONS` (DESIGN.md § job state machine); any other move
raises `IllegalTransitionError`. Events that arrive late — for an older attempt, or
after the job ended — are facts about the past and leave the state unchanged. Applying
an event twice is harmless: the second time is a no-op (replay after a restart, a
redelivery, our own decision coming back on the stream).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from msgspec.structs import replace

from contracts import job as job_events
from contracts.failure import FailureClassified
from contracts.job import (
    InterruptSent,
    JobCancelRequested,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobProgressed,
    JobRetryRequested,
    JobSubmitted,
)
from contracts.readmodel import JobStatus
from contracts.recovery import Abort, Dispatch, RecoveryDecided
from recovery.edits import PART_PARAM, SOURCE_PARAM, apply_changes
from recovery.errors import IllegalTransitionError, UnknownJobError
from recovery.history import close_last_step, history_step
from recovery.job_state import FailureRecord, JobState, StepRecord
from recovery.submission import initial_state

NO_BACKEND: Final = "no_backend"
"""The submitter's observation when no backend could take an attempt."""

JobEvent = job_events.JobEvent | FailureClassified | RecoveryDecided
"""Every event about one job (the per-job subjects): what `apply` folds."""
_S = JobStatus
TRANSITIONS: Final[Mapping[JobStatus, frozenset[JobStatus]]] = {
    _S.SUBMITTED: frozenset({_S.DISPATCHED, _S.FAILED, _S.ABORTED, _S.CANCELLED}),
    _S.DISPATCHED: frozenset({_S.RUNNING, _S.FAILED, _S.COMPLETED, _S.ABORTED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.RUNNING, _S.FAILED, _S.COMPLETED, _S.ABORTED, _S.CANCELLED}),
    _S.FAILED: frozenset(
        {_S.FAILED, _S.RECOVERING, _S.DISPATCHED, _S.COMPLETED, _S.ABORTED, _S.CANCELLED}
    ),
    _S.RECOVERING: frozenset({_S.DISPATCHED, _S.FAILED, _S.COMPLETED, _S.ABORTED, _S.CANCELLED}),
    _S.COMPLETED: frozenset({_S.RECOVERING}),
    _S.ABORTED: frozenset({_S.RECOVERING}),
    _S.CANCELLED: frozenset({_S.RECOVERING}),
}
"""Every allowed status move. A late success of the failed attempt (it finished before
the interrupt landed) still completes the job. Leaving a terminal status takes an
operator's retry."""


def apply(state: JobState | None, event: JobEvent) -> JobState:
    """The job's state after `event`.

    Raises:
        UnknownJobError: `state` is None and `event` is not the submission.
        IllegalTransitionError: the event would make a move `TRANSITIONS` forbids.
    """
    if state is None:
        if isinstance(event, JobSubmitted):
            return initial_state(event)
        raise UnknownJobError(f"{type(event).__name__} for unknown job {event.job_id}")
    if event.event_id in state.seen:
        return state
    new = _FOLDS[type(event)](state, event)
    if new is state:
        return state
    seen = state.seen if isinstance(event, JobProgressed) else state.seen | {event.event_id}
    return replace(new, seen=seen, updated_at=event.occurred_at)


def _move(state: JobState, to: JobStatus, **changes: Any) -> JobState:
    if to not in TRANSITIONS[state.status]:
        raise IllegalTransitionError(f"job {state.job_id}: {state.status} → {to} is not allowed")
    return replace(state, status=to, **changes)


def _stale(state: JobState, attempt: int) -> bool:
    return state.terminal or attempt < state.attempt


def _dispatched(state: JobState, e: JobDispatched) -> JobState:
    if state.terminal or e.attempt <= state.attempt:
        return state
    tried = state.backends_tried
    return _move(
        state,
        _S.DISPATCHED,
        attempt=e.attempt,
        planned_attempt=max(state.planned_attempt, e.attempt),
        backend_id=e.backend_id,
        dispatched_at=e.occurred_at,
        prompt_ids=tuple(p.prompt_id for p in e.prompts),
        backends_tried=tried if e.backend_id in tried else (*tried, e.backend_id),
        current_params={**state.current_params, **e.params},
        progress=0.0,
        waiting_since=None,
        waiting_reason=None,
    )


def _progressed(state: JobState, e: JobProgressed) -> JobState:
    if e.attempt != state.attempt or state.status not in (_S.DISPATCHED, _S.RUNNING):
        return state
    if state.status is _S.RUNNING and state.progress == e.percent:
        return state
    return _move(state, _S.RUNNING, progress=e.percent)


def _completed(state: JobState, e: JobCompleted) -> JobState:
    if _stale(state, e.attempt):
        return state
    outputs = {node: [f.filename for f in files] for node, files in e.outputs.items()}
    return _move(
        state,
        _S.COMPLETED,
        finished_at=e.occurred_at,
        outputs=outputs,
        progress=100.0,
        history=close_last_step(state.history, True, e.attempt),
    )


def _answered(state: JobState, attempt: int) -> bool:
    """Whether `attempt` already has its decision and the job is on its way to the next one
    (another part of a split attempt failing too is a fact about the past)."""
    return state.status is _S.RECOVERING and attempt <= state.decided_attempt


def _failed(state: JobState, e: JobFailed) -> JobState:
    if _stale(state, e.attempt) or state.status is _S.FAILED or _answered(state, e.attempt):
        return state
    # An attempt refused at dispatch (validation, unreachable backend) was an attempt all
    # the same: its number is used, so the next dispatch (even a manual retry) takes the
    # one after it, and status shows it as made.
    tried = state.backends_tried
    if e.backend_id is not None and e.backend_id not in tried:
        tried = (*tried, e.backend_id)
    return _move(
        state,
        _S.FAILED,
        attempt=max(state.attempt, e.attempt),
        planned_attempt=max(state.planned_attempt, e.attempt),
        backends_tried=tried,
    )


def _classified(state: JobState, e: FailureClassified) -> JobState:
    if e.event_id in state.failures:
        return state
    idle = is_idle(e)
    record = FailureRecord(
        e.event_id,
        e.failure_class,
        e.retryability,
        e.attempt,
        e.backend_id,
        _version_of(e),
        idle,
        lost_waiting=_lost_waiting(e),
    )
    state = replace(
        state,
        idle_attempts=state.idle_attempts + int(idle),
        failures={**state.failures, e.event_id: record},
        last_failure_class=e.failure_class.value,
        history=close_last_step(state.history, False, e.attempt),
    )
    if _stale(state, e.attempt) or state.status is _S.FAILED or _answered(state, e.attempt):
        return state
    return _move(state, _S.FAILED)


def _lost_waiting(e: FailureClassified) -> bool:
    """A prompt lost while it only waited (no node of it ran): a crash or restart took it, or
    it sat queued behind a wedged worker (the prompt the worker holds is not queued)."""
    evidence = e.evidence
    if evidence is None or evidence.surface != "monitor" or evidence.node_id is not None:
        return False
    return evidence.observation != "wedged" or evidence.queued


def is_idle(e: FailureClassified) -> bool:
    """Whether the failure is "no backend could take the attempt" (it never left us)."""
    return e.evidence is not None and e.evidence.observation == NO_BACKEND


def _version_of(e: FailureClassified) -> str | None:
    version = e.features.get("comfyui_version")
    if version is None and e.evidence is not None:
        version = e.evidence.comfyui_version
    return None if version is None else str(version)


def _decided(state: JobState, e: RecoveryDecided) -> JobState:
    if e.answers_event_id in state.decisions:
        return state
    answered = state.failures.get(e.answers_event_id)
    idle = answered is not None and answered.idle
    step = StepRecord(
        e.answers_event_id, e.failure_class, e.strategy, state.epoch, e.terminal, idle
    )
    state = replace(
        state,
        decisions={**state.decisions, e.answers_event_id: e},
        steps=(*state.steps, step),
        decided_attempt=max(state.decided_attempt, e.attempt),
    )
    dispatch = next((a for a in e.actions if isinstance(a, Dispatch)), None)
    abort = next((a for a in e.actions if isinstance(a, Abort)), None)
    if e.terminal:
        return _ended(state, e, abort)
    return _recovering(state, e, dispatch) if dispatch is not None else state


def _ended(state: JobState, e: RecoveryDecided, abort: Abort | None) -> JobState:
    cancelled = abort is not None and abort.cancelled
    return _move(
        state,
        _S.CANCELLED if cancelled else _S.ABORTED,
        finished_at=e.occurred_at,
        abort_reason=abort.reason if abort else e.reason,
        user_message=abort.user_message if abort else None,
        actionable_steps=tuple(abort.actionable_steps) if abort else (),
        history=(*state.history, history_step(e, e.attempt, None)),
        waiting_since=None,
        waiting_reason=None,
    )


def _recovering(state: JobState, e: RecoveryDecided, dispatch: Dispatch) -> JobState:
    manual = e.answers_event_id in state.requests
    waits = dispatch.wait_until is not None
    part = next((c.after for c in e.changes if c.param == PART_PARAM), state.part_size)
    at_source = next(
        (bool(c.after) for c in e.changes if c.param == SOURCE_PARAM), state.part_at_source
    )
    return _move(
        state,
        _S.RECOVERING,
        workflow=apply_changes(state.workflow, e.changes),
        part_size=part,
        part_at_source=at_source,
        current_params=dict(dispatch.params),
        planned_attempt=dispatch.attempt,
        epoch=state.epoch + 1 if manual else state.epoch,
        budget_base=dispatch.attempt - 1 if manual else state.budget_base,
        idle_attempts=0 if manual else state.idle_attempts,
        waiting_since=(state.waiting_since or e.occurred_at) if waits else state.waiting_since,
        waiting_reason=e.reason if waits else None,
        finished_at=None,
        abort_reason=None,
        user_message=None,
        actionable_steps=(),
        history=(*state.history, history_step(e, dispatch.attempt, dispatch.backend_hint)),
    )


def _retry_requested(state: JobState, e: JobRetryRequested) -> JobState:
    policy = e.policy if e.policy is not None else state.policy
    return replace(state, requests=state.requests | {e.event_id}, policy=policy)


def _unchanged(state: JobState, _event: Any) -> JobState:
    return state


def _noted(state: JobState, _event: Any) -> JobState:
    return replace(state)


_FOLDS: Final[Mapping[type, Callable[[JobState, Any], JobState]]] = {
    JobSubmitted: _unchanged,
    JobDispatched: _dispatched,
    JobProgressed: _progressed,
    JobCompleted: _completed,
    JobFailed: _failed,
    JobCancelRequested: _noted,
    JobRetryRequested: _retry_requested,
    InterruptSent: _noted,
    FailureClassified: _classified,
    RecoveryDecided: _decided,
}
