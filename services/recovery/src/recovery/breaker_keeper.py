"""Keeping the backends' breakers: what each outcome does to its backend's breaker, the
KV write, the gauge, and the `backend.breaker` event when its state changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import structlog

from contracts.backend import BackendHealth, BreakerChanged, BreakerState
from contracts.codec import AnyEvent
from contracts.envelope import CONTROL_JOB_ID, derive_event_id
from contracts.failure import FailureClassified
from contracts.job import JobCompleted
from contracts.recovery import QuarantineBackend
from recovery import breaker as breakers
from recovery import metrics
from recovery.adapters.backends import BackendRegistry
from recovery.breaker import BACKEND_ATTRIBUTABLE, Breaker
from recovery.decision import Decision

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    """What the handlers publish through (`cr_client.bus.Bus`)."""

    async def publish(self, event: AnyEvent, *, timeout: float | None = None) -> Any: ...


class BreakerKeeper:
    """Applies the pure `recovery.breaker` transitions to the shared registry (KV)."""

    def __init__(
        self,
        bus: Publisher,
        backends: BackendRegistry,
        source: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.bus = bus
        self.backends = backends
        self.source = source
        self.clock = clock

    async def tick(self) -> None:
        """Move every open breaker whose timeout has passed to half-open (and say so)."""
        registry, now = self.backends, self.clock().timestamp()
        for backend_id in sorted(registry.breakers):
            await self.change(backend_id, lambda b: breakers.tick(b, now, registry.config))

    async def count_failure(
        self, failure: FailureClassified, dispatched: datetime | None = None
    ) -> None:
        """A failure on its backend: counted against it when the backend can be to blame,
        else neutral (a call that tells nothing)."""
        if failure.backend_id is None:
            return
        at, config = failure.occurred_at.timestamp(), self.backends.config
        if failure.failure_class not in BACKEND_ATTRIBUTABLE:
            await self.change(
                failure.backend_id,
                lambda b: breakers.record_neutral(b, failure.event_id, at, config),
            )
            return
        cls = failure.failure_class
        sent = dispatched.timestamp() if dispatched is not None else None
        fleet = self.backends.fleet(failure.backend_id, at)
        await self.change(
            failure.backend_id,
            lambda b: breakers.record_failure(
                b, failure.event_id, at, config, cls.value, cls, failure.job_id, sent, fleet
            ),
        )

    async def count_success(self, event: JobCompleted) -> None:
        """A completed job on its backend."""
        at, config = event.occurred_at.timestamp(), self.backends.config
        await self.change(
            event.backend_id, lambda b: breakers.record_success(b, event.event_id, at, config)
        )

    async def quarantine(self, action: QuarantineBackend, decision: Decision) -> None:
        """Open the backend's breaker now, as the decision asks."""
        at, config = decision.at.timestamp(), self.backends.config
        await self.change(
            action.backend_id,
            lambda b: breakers.quarantine(b, decision.event_id, at, action.reason, config),
        )

    async def restarted(self, event: BackendHealth) -> None:
        """The monitor restarted the backend: let a probe judge the new process now."""
        at, config = event.occurred_at.timestamp(), self.backends.config
        await self.change(
            event.backend_id, lambda b: breakers.restarted(b, event.event_id, at, config)
        )

    async def change(self, backend_id: str, change: Callable[[Breaker], Breaker]) -> None:
        """Apply `change` to the backend's breaker in KV; publish the new state if it moved."""
        known = self.backends.breaker(backend_id)
        if change(known) == known:
            return  # nothing would change (e.g. a success while closed): no KV round trip
        before, after = await self.backends.update_breaker(backend_id, change)
        metrics.BREAKER_STATE.labels(backend_id).set(metrics.BREAKER_LEVEL[after.state])
        if after.state is before.state:
            return
        log.info(
            "breaker.changed", backend=backend_id, state=after.state.value, reason=after.reason
        )
        await self.bus.publish(
            BreakerChanged(
                event_id=derive_event_id(after.cause, f"breaker:{backend_id}:{after.state.value}"),
                job_id=CONTROL_JOB_ID,
                occurred_at=self.clock(),
                source=self.source,
                causation_id=after.cause or None,
                backend_id=backend_id,
                state=after.state,
                previous=before.state,
                reason=after.reason,
                failures_in_window=before.failures + int(after.state is BreakerState.OPEN),
            )
        )
