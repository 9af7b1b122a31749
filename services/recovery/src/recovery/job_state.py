"""What recovery knows about one job: the state the fold builds (`state_machine`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import msgspec

from contracts.job import Binding
from contracts.policy import RecoveryPolicy
from contracts.readmodel import TERMINAL, JobStatus, RecoveryStep
from contracts.recovery import RecoveryDecided
from contracts.taxonomy import FailureClass, Retryability, Strategy
from recovery.graph import Workflow

ELSEWHERE: Final = frozenset(
    {Retryability.ELSEWHERE, Retryability.OTHER_BACKEND_TYPE, Retryability.PER_VERSION}
)
"""Retryabilities after which the job must not go back to the backend that failed it."""


class FailureRecord(msgspec.Struct, frozen=True):
    """One classified failure of the job."""

    event_id: str
    failure_class: FailureClass
    retryability: Retryability
    attempt: int
    backend_id: str | None
    comfyui_version: str | None = None
    idle: bool = False
    """The attempt never reached a backend (none could take it): it uses no budget."""
    lost_waiting: bool = False
    """The monitor found the prompt gone (a crash, restart or outage) while it only waited in
    the backend's queue: its evidence names no node it was executing."""


class StepRecord(msgspec.Struct, frozen=True):
    """One decision: the class it answered, its step, the budget epoch it used."""

    answers: str
    failure_class: FailureClass | None
    strategy: Strategy
    epoch: int
    terminal: bool
    idle: bool = False
    """It answered an idle failure (no backend could take the job): not a recovery."""


class JobState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything recovery knows about one job, derived only from its events.

    ``workflow`` is the current base graph (the original with every recorded change);
    ``part_size`` splits it into several prompts when set (each built at the batch's
    source when ``part_at_source``). ``epoch`` counts operator
    retries: budgets count only the steps and attempts of the current epoch.
    """

    job_id: str
    status: JobStatus = JobStatus.SUBMITTED
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    original: Workflow = msgspec.field(default_factory=dict)
    workflow: Workflow = msgspec.field(default_factory=dict)
    part_size: int | None = None
    part_at_source: bool = False
    bindings: Mapping[str, Binding] = msgspec.field(default_factory=dict)
    original_params: Mapping[str, Any] = msgspec.field(default_factory=dict)
    current_params: Mapping[str, Any] = msgspec.field(default_factory=dict)
    policy: RecoveryPolicy | None = None
    inputs: tuple[str, ...] = ()
    attempt: int = 0
    planned_attempt: int = 0
    decided_attempt: int = -1
    backend_id: str | None = None
    dispatched_at: datetime | None = None
    prompt_ids: tuple[str, ...] = ()
    backends_tried: tuple[str, ...] = ()
    failures: Mapping[str, FailureRecord] = msgspec.field(default_factory=dict)
    decisions: Mapping[str, RecoveryDecided] = msgspec.field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()
    epoch: int = 0
    budget_base: int = 0
    idle_attempts: int = 0
    waiting_since: datetime | None = None
    waiting_reason: str | None = None
    history: tuple[RecoveryStep, ...] = ()
    last_failure_class: str | None = None
    abort_reason: str | None = None
    user_message: str | None = None
    actionable_steps: tuple[str, ...] = ()
    outputs: Mapping[str, Any] = msgspec.field(default_factory=dict)
    progress: float = 0.0
    paused: str | None = None
    requests: frozenset[str] = frozenset()
    seen: frozenset[str] = frozenset()

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (completed, aborted or cancelled)."""
        return self.status in TERMINAL
