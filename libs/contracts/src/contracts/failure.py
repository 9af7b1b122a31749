"""The classifier's verdict on a failure (subject ``failure.classified.<job_id>``)."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import subjects
from contracts.envelope import Event
from contracts.job import FailureEvidence
from contracts.taxonomy import FailureClass, Retryability, Severity


class FailureClassified(Event, frozen=True, kw_only=True, tag=subjects.FAILURE_CLASSIFIED):
    """One `job.failed`, typed by TAXONOMY.md, with features and a user message.

    ``failed_event_id`` is the `job.failed` this answers; this event's id is derived from
    it, so a redelivered failure is classified once.
    """

    failed_event_id: str
    failure_class: FailureClass
    error_code: str
    retryable: bool
    retryability: Retryability
    severity: Severity
    rule: str
    confidence: float = 1.0
    features: dict[str, Any] = msgspec.field(default_factory=dict)
    user_message: str = ""
    actionable_steps: list[str] = msgspec.field(default_factory=list)
    backend_id: str | None = None
    prompt_id: str | None = None
    evidence: FailureEvidence | None = None
