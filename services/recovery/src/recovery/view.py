"""The job read model (`contracts.readmodel.JobView`) as a pure function of a job's state."""

from __future__ import annotations

from contracts.readmodel import JobView
from recovery.job_state import JobState


def view_of(state: JobState) -> JobView:
    """What clients see of `state`."""
    return JobView(
        job_id=state.job_id,
        status=state.status,
        attempt=state.attempt,
        retry_count=sum(1 for step in state.steps if not step.terminal),
        submitted_at=state.submitted_at,
        updated_at=state.updated_at,
        finished_at=state.finished_at,
        original_params=dict(state.original_params),
        current_params=dict(state.current_params),
        recovery_history=list(state.history),
        backends_tried=list(state.backends_tried),
        last_failure_class=state.last_failure_class,
        abort_reason=state.abort_reason,
        user_message=state.user_message or state.paused,
        actionable_steps=list(state.actionable_steps),
        outputs=dict(state.outputs),
        progress=state.progress,
        waiting_reason=state.waiting_reason,
    )
