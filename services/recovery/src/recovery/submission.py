"""A job's first state, from its submission (the start of `state_machine.apply`'s fold)."""

from __future__ import annotations

from contracts.job import JobSubmitted
from recovery.graph import bind, discover, params_of
from recovery.job_state import JobState


def initial_state(event: JobSubmitted) -> JobState:
    """The job's first state: its workflow with the submitted parameters bound, and its
    parameters: the submitted ones and every one recovery may change, read from the graph."""
    original = bind(event.workflow, event.params, event.bindings)
    found = params_of(original, discover(original, event.bindings))
    params = {**event.params, **found}
    return JobState(
        job_id=event.job_id,
        submitted_at=event.occurred_at,
        updated_at=event.occurred_at,
        original=original,
        workflow=original,
        bindings=dict(event.bindings),
        original_params=params,
        current_params=params,
        policy=event.policy,
        inputs=tuple(asset.name for asset in event.inputs),
        seen=frozenset({event.event_id}),
    )
