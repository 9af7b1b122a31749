"""Recovery's message handlers: fold the event, decide when asked to, publish, write.

Each reads as one line: fold (the projection) → decide (pure) → publish the decision
(derived id, causation set) → fold the decision → write the read model → ack (by the
shared consumer on return).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from contracts.backend import BackendHealth, BackendInventory
from contracts.codec import AnyEvent
from contracts.envelope import utcnow
from contracts.errors import EventTooLargeError
from contracts.failure import FailureClassified
from contracts.job import JobCancelRequested, JobCompleted, JobRetryRequested
from contracts.readmodel import JobStatus
from contracts.recovery import Abort, QuarantineBackend
from contracts.taxonomy import Strategy
from cr_runtime.consumer import Delivery
from recovery import metrics
from recovery import policy as policies
from recovery.adapters.backends import BackendRegistry
from recovery.adapters.job_store import JobStore
from recovery.adapters.policy_store import PolicyStore
from recovery.adapters.snapshots import SnapshotStore
from recovery.breaker_keeper import BreakerKeeper, Publisher
from recovery.decide import decide, needs_decision
from recovery.decision import Decision
from recovery.errors import DomainError, StoreUnavailableError
from recovery.job_state import JobState
from recovery.projection import Projection
from recovery.strategies.context import Tuning
from recovery.strategies.operator import decide_cancel, decide_manual_retry
from recovery.view import view_of

log = structlog.get_logger(__name__)


@dataclass
class Deps:
    """Everything the handlers use; built once in `app`."""

    bus: Publisher
    projection: Projection
    jobs: JobStore
    backends: BackendRegistry
    policies: PolicyStore
    tuning: Tuning
    source: str
    clock: Callable[[], datetime] = field(default=utcnow)
    read_event: Callable[[int], Awaitable[AnyEvent | None]] | None = None
    snapshots: SnapshotStore | None = None


class Handlers:
    """The events consumer's and the telemetry consumer's handlers."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.breakers = BreakerKeeper(deps.bus, deps.backends, deps.source, deps.clock)

    async def on_event(self, event: AnyEvent, delivery: Delivery | None = None) -> None:
        """One event of the events stream (job, failure, recovery or control)."""
        if delivery is not None:
            await self._catch_up(delivery.stream_seq)
        await self._on_event(event)
        if delivery is not None:
            projection = self.deps.projection
            projection.seq = max(projection.seq, delivery.stream_seq)

    async def save_snapshot(self) -> None:
        """Save the states changed since the last snapshot, marked with the folded seq."""
        store, projection = self.deps.snapshots, self.deps.projection
        if store is None or not projection.seq:
            return
        seq, changed = projection.seq, projection.take_dirty()
        try:
            await store.save(changed, seq)
        except StoreUnavailableError:
            projection.dirty.update(state.job_id for state in changed)
            raise

    async def _catch_up(self, seq: int) -> None:
        """Fold the events before `seq` that another instance sharing the durable consumer
        handled, so this instance's state is whole before it decides anything."""
        projection = self.deps.projection
        for missing in range(projection.seq + 1, seq):
            await self.fold_stored(missing)
            projection.seq = missing

    async def fold_stored(self, seq: int) -> None:
        """Fold the stored event at stream sequence `seq` (one another instance handled);
        one the fold refuses is logged and skipped, as its handler would have refused it."""
        read = self.deps.read_event
        event = await read(seq) if read is not None else None
        if event is None:
            return
        try:
            self.deps.projection.apply(event)
        except DomainError as exc:
            log.warning("catch_up.skipped", seq=seq, error=str(exc))

    async def _on_event(self, event: AnyEvent) -> None:
        with structlog.contextvars.bound_contextvars(job_id=event.job_id, event_id=event.event_id):
            match event:
                case FailureClassified():
                    await self._on_failure(event)
                case JobCancelRequested():
                    await self._on_request(
                        event, lambda s: decide_cancel(s, event, self.deps.clock())
                    )
                case JobRetryRequested():
                    await self._on_request(
                        event, lambda s: decide_manual_retry(s, event, self.deps.clock())
                    )
                case JobCompleted():
                    await self._fold(event)
                    await self.breakers.count_success(event)
                case _:
                    await self._fold(event)

    async def on_telemetry(self, event: AnyEvent, _delivery: Any = None) -> None:
        """One backend inventory or health event."""
        match event:
            case BackendInventory():
                await self.deps.backends.record_inventory(event)
            case BackendHealth():
                await self.deps.backends.record_health(event)
                if event.restarted:
                    await self.breakers.restarted(event)
            case _:
                pass

    async def tick_breakers(self) -> None:
        """Move every open breaker whose timeout has passed to half-open (and say so)."""
        await self.breakers.tick()

    async def _on_failure(self, failure: FailureClassified) -> None:
        await self._fold(failure)
        state = self.deps.projection.get(failure.job_id)
        # Idempotency guard: a failure already answered (redelivered, or replayed at start
        # together with its decision) or a stale one is not decided again.
        if not needs_decision(state, failure):
            log.info("recovery.already_decided_or_stale", attempt=failure.attempt)
            return
        await self.breakers.count_failure(failure, state.dispatched_at)
        now = self.deps.clock()
        decision = decide(
            state,
            failure,
            policies.effective(self.deps.policies.current, state.policy),
            self.deps.backends.snapshot(now),
            now,
            random.Random(failure.event_id),
            self.deps.tuning,
        )
        try:
            await self._publish(decision)
        except EventTooLargeError as exc:
            # e.g. a big graph split into many parts: the plan cannot travel, so the job
            # ends with the reason rather than waiting forever on an unpublishable decision
            log.warning("recovery.decision_too_large", size=exc.size, limit=exc.limit)
            await self._publish(too_large(decision, exc))

    async def _on_request(
        self,
        event: JobCancelRequested | JobRetryRequested,
        answer: Callable[[JobState], Decision | None],
    ) -> None:
        await self._fold(event)
        # Idempotency guard: the operator decisions return None once the request is answered.
        state = self.deps.projection.get(event.job_id)
        decision = answer(state)
        if decision is not None:
            await self._publish(decision)
        elif event.event_id not in state.decisions:
            # clients refuse these up front (contracts.eligibility); one that raced a status
            # change, or came from elsewhere, is left unanswered: say so
            metrics.REQUESTS_NOT_APPLIED.labels(type(event).__name__).inc()
            log.warning("operator.request_not_applied", status=state.status.value)

    async def _publish(self, decision: Decision) -> None:
        event = decision.to_event(self.deps.source)
        await self.deps.bus.publish(event)
        metrics.DECISIONS.labels(decision.strategy.value).inc()
        log.info(
            "recovery.decided",
            strategy=decision.strategy.value,
            failure_class=decision.failure_class.value if decision.failure_class else None,
            delay_s=decision.delay_s,
            terminal=decision.terminal,
            reason=decision.reason,
        )
        await self._fold(event)
        if decision.terminal:
            return  # an ended job says nothing about a backend: never quarantine on abort
        for action in decision.actions:
            if isinstance(action, QuarantineBackend):
                await self.breakers.quarantine(action, decision)

    def refresh_gauges(self) -> None:
        """Set cr_jobs_by_status from the projection's counts."""
        for status in JobStatus:
            metrics.JOBS_BY_STATUS.labels(status.value).set(self.deps.projection.counts[status])

    async def _fold(self, event: AnyEvent) -> None:
        changed = self.deps.projection.apply(event)
        known = self.deps.projection.jobs.get(event.job_id)
        for state in changed or ([known] if known is not None else []):
            await self.deps.jobs.save(view_of(state))
        self.refresh_gauges()


def too_large(decision: Decision, exc: EventTooLargeError) -> Decision:
    """The abort that replaces `decision` when its event cannot fit on the bus (same id)."""
    reason = (
        f"the recovery plan ({decision.strategy.value}) is {exc.size} bytes, over the bus "
        f"limit of {exc.limit} bytes"
    )
    abort = Abort(
        reason=reason,
        user_message="The job's recovery needs a message larger than the system can carry.",
        actionable_steps=["Submit a smaller workflow, or a smaller batch"],
    )
    return Decision(
        job_id=decision.job_id,
        answers=decision.answers,
        attempt=decision.attempt,
        at=decision.at,
        strategy=Strategy.ABORT,
        strategies=(Strategy.ABORT,),
        actions=(abort,),
        failure_class=decision.failure_class,
        reason=reason,
        terminal=True,
    )
