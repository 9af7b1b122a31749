"""A job's first state, from its submission (the start of `state_machine.apply`'s fold)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contracts.job import Binding, JobSubmitted
from recovery.graph import Workflow, bind, discover, params_of
from recovery.graph_cache import KEY, Recent
from recovery.job_state import JobState

ANALYSES_KEPT: Final = 256
"""Distinct submitted graphs whose analysis is kept: a farm submits the same few workflows
again and again, so the replay at start analyses each once, not once per job."""
_analyses: Final = Recent[tuple[Workflow, Mapping[str, Any]]](ANALYSES_KEPT)


def initial_state(event: JobSubmitted) -> JobState:
    """The job's first state: its workflow with the submitted parameters bound, and its
    parameters: the submitted ones and every one recovery may change, read from the graph."""
    original, found = analysed(bind(event.workflow, event.params, event.bindings), event.bindings)
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


def analysed(
    workflow: Workflow, bindings: Mapping[str, Binding]
) -> tuple[Workflow, Mapping[str, Any]]:
    """`workflow`, or an identical graph analysed before with the same bindings (shared:
    100,000 jobs of one workflow hold one graph), and the parameters read from it."""
    return _analyses.get(
        KEY.encode((workflow, bindings)),
        lambda: (workflow, params_of(workflow, discover(workflow, bindings))),
    )
