"""Subscriber: decode → classify → publish `failure.classified` → ack."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from classifier import metrics
from classifier.engine import Classification, classify
from classifier.rules import RuleSet
from contracts.codec import AnyEvent
from contracts.envelope import derive_event_id, utcnow
from contracts.failure import FailureClassified
from contracts.job import JobFailed
from contracts.taxonomy import FailureClass
from cr_client.bus import Bus
from cr_runtime.consumer import Delivery

log = structlog.get_logger(__name__)
ROLE = "classified"


def classified_event(
    failed: JobFailed, verdict: Classification, source: str, now: datetime
) -> FailureClassified:
    """The `failure.classified` answering `failed` (pure; its id is derived from the input's)."""
    return FailureClassified(
        event_id=derive_event_id(failed.event_id, ROLE),
        job_id=failed.job_id,
        attempt=failed.attempt,
        occurred_at=now,
        source=source,
        causation_id=failed.event_id,
        failed_event_id=failed.event_id,
        failure_class=verdict.failure_class,
        error_code=verdict.error_code,
        retryable=verdict.retryable,
        retryability=verdict.retryability,
        severity=verdict.severity,
        rule=verdict.rule,
        confidence=verdict.confidence,
        features=verdict.features,
        user_message=verdict.user_message,
        actionable_steps=verdict.actionable_steps,
        backend_id=failed.backend_id,
        prompt_id=failed.prompt_id,
        evidence=failed.evidence,
    )


class FailureHandler:
    """Classifies each `job.failed` with the rules in force and publishes the verdict."""

    def __init__(self, bus: Bus, rules: Callable[[], RuleSet], source: str) -> None:
        self.bus = bus
        self.rules = rules
        self.source = source

    async def __call__(self, event: AnyEvent, delivery: Delivery) -> None:
        """Handle one delivery; other event types on the subject are acknowledged and skipped."""
        if isinstance(event, JobFailed):
            with structlog.contextvars.bound_contextvars(
                job_id=event.job_id,
                event_id=event.event_id,
                attempt=event.attempt,
                backend=event.backend_id,
            ):
                await self.handle(event)

    async def handle(self, failed: JobFailed) -> None:
        """Classify one failure and publish its `failure.classified`."""
        verdict = classify(failed.evidence, self.rules())
        classified = classified_event(failed, verdict, self.source, utcnow())
        # Idempotency guard: the event id is derived from the job.failed id, so a redelivered
        # failure republishes the same Nats-Msg-Id and JetStream's dedup window drops it.
        ack = await self.bus.publish(classified)
        if ack.duplicate:
            return
        metrics.CLASSIFICATIONS.labels(verdict.failure_class.value).inc()
        if verdict.failure_class == FailureClass.UNKNOWN:
            log.warning(
                "classifier.unknown",
                job_id=failed.job_id,
                event_id=failed.event_id,
                surface=failed.evidence.surface,
                message=failed.evidence.message[:300],
            )
