"""What a job has used of its recovery budget, read off its state (pure queries)."""

from __future__ import annotations

from typing import Final

from contracts.recovery import Dispatch
from contracts.taxonomy import FailureClass, Strategy
from recovery.job_state import ELSEWHERE, JobState

COLLATERAL: Final = frozenset(
    {FailureClass.INTERRUPTED, FailureClass.BACKEND_UNREACHABLE, FailureClass.BACKEND_WEDGED}
)
"""Classes a backend's crash, restart or wedge gives every prompt it held: the backend's
fault, not the job's. The first such loss costs the job an attempt; later ones do not (the
per-class limits still bound the losses of a prompt that was executing — see QUEUED_LOSS —
so a job that crashes every backend it runs on ends)."""


QUEUED_LOSS: Final = frozenset(
    {FailureClass.INTERRUPTED, FailureClass.BACKEND_UNREACHABLE, FailureClass.BACKEND_WEDGED}
)
"""Losses that say nothing about the job when its prompt was only waiting in the queue: a
crash, restart or outage took every prompt the backend held, or a wedged worker held
another prompt while ours waited behind it. Such a loss is resumed however often it happens
(the deadline, the wait bound and the breakers bound it): it uses neither the class's limit
nor its chain's steps, and when losses of the job's own running prompt have used the chain
up, it takes the chain's last step that applies. A loss while the job's own prompt was
executing counts (a job that crashes every backend it runs on still ends)."""


def queued_loss(state: JobState, failure_event_id: str) -> bool:
    """Whether that failure was a queued prompt lost to a backend incident (see QUEUED_LOSS)."""
    record = state.failures.get(failure_event_id)
    return (
        record is not None
        and record.failure_class in QUEUED_LOSS
        and record.lost_waiting
        and not record.idle
    )


def attempts_used(state: JobState, failure_attempt: int = 0) -> int:
    """Dispatches made (or decided) in the current budget epoch; attempts that never
    reached a backend (none could take them) are not counted, nor any loss to a backend
    incident past the first."""
    latest = max(state.attempt, state.planned_attempt, failure_attempt)
    return latest - state.budget_base - state.idle_attempts - _free_collateral(state)


def _free_collateral(state: JobState) -> int:
    lost = {
        record.attempt
        for record in state.failures.values()
        if record.failure_class in COLLATERAL
        and not record.idle
        and record.attempt > state.budget_base
    }
    return max(0, len(lost) - 1)


def next_attempt(state: JobState, failure_attempt: int = 0) -> int:
    """The number of the next dispatch (unique per job, so prompt ids never collide)."""
    return max(state.attempt, state.planned_attempt, failure_attempt) + 1


def class_recoveries(state: JobState, failure_class: FailureClass) -> int:
    """Non-terminal decisions taken for `failure_class` in the current epoch."""
    return sum(
        1
        for step in state.steps
        if step.epoch == state.epoch
        and step.failure_class is failure_class
        and not step.terminal
        and not step.idle
        and not queued_loss(state, step.answers)
    )


def step_uses(state: JobState, failure_class: FailureClass, strategy: Strategy) -> int:
    """How often a chain step (named by its primary strategy) ran for this class. Steps that
    answered a queued loss are not counted: a job whose queued prompt two crashes took must
    still have its resumes when its own run is interrupted."""
    return sum(
        1
        for step in state.steps
        if step.epoch == state.epoch
        and step.failure_class is failure_class
        and step.strategy is strategy
        and not step.idle
        and not queued_loss(state, step.answers)
    )


def bad_backends(state: JobState) -> frozenset[str]:
    """Backends this job must not go back to: they failed it with an "elsewhere" class, or
    recovery moved the job away from them after a failure of their own (a corrupt model file
    it could not repair there, a stall): going back would meet the same fault.

    A backend incident (a wedge: the worker is restarted) bars no backend for the job: its
    breaker, shared by every job, says when it takes work again."""
    moved = _moved_away(state)
    return frozenset(
        record.backend_id
        for record in state.failures.values()
        if record.backend_id is not None
        and record.failure_class not in COLLATERAL
        and (record.retryability in ELSEWHERE or (record.event_id, record.backend_id) in moved)
    )


def _moved_away(state: JobState) -> set[tuple[str, str]]:
    """(failure event id, backend) pairs where the decision answering that failure sent the
    job's next dispatch away from that backend."""
    return {
        (decision.answers_event_id, backend)
        for decision in state.decisions.values()
        for action in decision.actions
        if isinstance(action, Dispatch)
        for backend in action.exclude_backends
    }


def versions_failed(state: JobState, failure_class: FailureClass) -> frozenset[str]:
    """ComfyUI versions on which this job already failed with `failure_class`."""
    return frozenset(
        record.comfyui_version
        for record in state.failures.values()
        if record.failure_class is failure_class and record.comfyui_version is not None
    )
