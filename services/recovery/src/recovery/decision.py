"""A recovery decision as a value, and the `RecoveryDecided` event it becomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from contracts.envelope import derive_event_id
from contracts.recovery import Action, ParamChange, RecoveryDecided
from contracts.taxonomy import FailureClass, Strategy

DECIDED_ROLE: Final = "decided"
"""The role a decision's id is derived under, from the id of the event it answers."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one failure (or operator request), before it is published.

    Attributes:
        answers: the event id this decision answers; its own id derives from it.
        attempt: the attempt the answered event was about.
        strategy: the chain step taken (the metric label); ``strategies`` lists all used.
        actions: for the submitter, in order (a Dispatch or an Abort comes last).
        changes: every parameter changed from the job's current graph, as a diff.
    """

    job_id: str
    answers: str
    attempt: int
    at: datetime
    strategy: Strategy
    strategies: tuple[Strategy, ...]
    actions: tuple[Action, ...]
    changes: tuple[ParamChange, ...] = ()
    failure_class: FailureClass | None = None
    delay_s: float = 0.0
    reason: str = ""
    terminal: bool = False

    @property
    def event_id(self) -> str:
        """The derived id: the same answered event always yields the same id."""
        return derive_event_id(self.answers, DECIDED_ROLE)

    def to_event(self, source: str) -> RecoveryDecided:
        """The event to publish (``causation_id`` = the answered event)."""
        return RecoveryDecided(
            event_id=self.event_id,
            job_id=self.job_id,
            attempt=self.attempt,
            occurred_at=self.at,
            source=source,
            causation_id=self.answers,
            answers_event_id=self.answers,
            strategy=self.strategy,
            strategies=list(self.strategies),
            failure_class=self.failure_class,
            actions=list(self.actions),
            changes=list(self.changes),
            delay_s=self.delay_s,
            reason=self.reason,
            terminal=self.terminal,
        )
