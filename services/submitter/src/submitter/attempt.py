"""One attempt to run a job: what, which attempt, why, where, and its events' envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.envelope import derive_event_id, utcnow
from contracts.job import InputAsset, JobSubmitted
from submitter.selection import Constraints


@dataclass(frozen=True)
class Attempt:
    """One attempt to run: what, which attempt, why (the causing event), and where."""

    job_id: str
    attempt: int
    cause_id: str
    workflows: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    constraints: Constraints = Constraints()
    resume: bool = False
    uploads: list[InputAsset] = field(default_factory=list)
    wait_until: datetime | None = None
    """Set: no backend could take it when decided; hold it until one can (or this time)."""
    submitted: JobSubmitted | None = None
    """The job's submission when the caller has it (the first attempt): not read again."""

    @property
    def key(self) -> str:
        """What the attempt's event ids derive from: one attempt, whichever event caused it."""
        return f"{self.job_id}:{self.attempt}"

    def envelope(self, role: str, source: str) -> dict[str, Any]:
        """The envelope of this attempt's event in `role` (id derived from the attempt),
        published by `source`."""
        return {
            "event_id": derive_event_id(self.key, role),
            "job_id": self.job_id,
            "attempt": self.attempt,
            "occurred_at": utcnow(),
            "source": source,
            "causation_id": self.cause_id,
        }


def not_yet(not_before: datetime | None) -> float:
    """Seconds until `not_before` (0 when due or unset)."""
    if not_before is None:
        return 0.0
    return max(0.0, (not_before - utcnow()).total_seconds())
