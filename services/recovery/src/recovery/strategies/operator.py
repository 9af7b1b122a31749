"""Decisions answering people, not failures: cancel, and a manual retry (pure).

Each decision's id derives from the request's id, so a redelivered request is answered
once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from contracts.job import JobCancelRequested, JobRetryRequested
from contracts.readmodel import JobStatus
from contracts.recovery import Abort, Interrupt
from contracts.taxonomy import Strategy
from recovery.decision import Decision
from recovery.job_state import JobState
from recovery.strategies import dispatch
from recovery.strategies.context import Plan

RETRYABLE: Final = frozenset({JobStatus.ABORTED, JobStatus.FAILED})
"""Statuses a manual retry restarts; ``force`` adds CANCELLED and COMPLETED."""
FORCED: Final = frozenset({JobStatus.CANCELLED, JobStatus.COMPLETED})
RUNNING: Final = frozenset({JobStatus.DISPATCHED, JobStatus.RUNNING})


def decide_cancel(state: JobState, request: JobCancelRequested, now: datetime) -> Decision | None:
    """Interrupt our running prompt(s), by id, and end the job as cancelled.

    None when the job has already ended or this request was answered.
    """
    if state.terminal or request.event_id in state.decisions:
        return None
    who = request.requested_by or "the owner"
    reason = f"cancelled by {who}" + (f": {request.reason}" if request.reason else "")
    stops: tuple[Interrupt, ...] = ()
    if state.status in RUNNING and state.backend_id is not None:
        stops = tuple(
            Interrupt(backend_id=state.backend_id, prompt_id=pid, reason="cancelled")
            for pid in state.prompt_ids
        )
    return Decision(
        job_id=state.job_id,
        answers=request.event_id,
        attempt=state.attempt,
        at=now,
        strategy=Strategy.CANCEL,
        strategies=(Strategy.INTERRUPT, Strategy.CANCEL) if stops else (Strategy.CANCEL,),
        actions=(
            *stops,
            Abort(reason=reason, user_message="The job was cancelled.", cancelled=True),
        ),
        reason=reason,
        terminal=True,
    )


def decide_manual_retry(
    state: JobState, request: JobRetryRequested, now: datetime
) -> Decision | None:
    """Run an ended job again from its original graph, with a fresh budget.

    None when the job's status does not allow it (see `RETRYABLE`, `FORCED`) or the
    request was answered already.
    """
    allowed = RETRYABLE | FORCED if request.force else RETRYABLE
    if state.status not in allowed or request.event_id in state.decisions:
        return None
    who = request.requested_by or "an operator"
    plan = Plan(
        (Strategy.RETRY,),
        f"manual retry by {who}, from the original parameters",
        workflow=state.original,
    )
    return dispatch.build(
        state,
        answers=request.event_id,
        attempt=state.attempt,
        now=now,
        strategy=Strategy.RETRY,
        plan=plan,
        part=None,
    )
