"""Subscribers: new jobs, recovery decisions, emergency stop (decode → act → publish → ack)."""

from __future__ import annotations

from typing import Any

import structlog

from contracts.backends import EXTRA_DATA_KEY
from contracts.codec import AnyEvent
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.errors import TransientError
from contracts.job import FailureEvidence, JobFailed, JobSubmitted
from contracts.recovery import (
    Abort,
    Dispatch,
    FreeVram,
    Interrupt,
    QuarantineBackend,
    RecoveryDecided,
    UploadInput,
)
from contracts.workflow import InvalidWorkflowError, apply_params
from cr_runtime.consumer import Delivery
from submitter.attempt import Attempt, not_yet
from submitter.dispatcher import Dispatcher
from submitter.errors import ComfyReplyError, ComfyUnreachableError
from submitter.selection import Constraints

log = structlog.get_logger(__name__)


class Handlers:
    """The submitter's message handlers, sharing one `Dispatcher`."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self._acted: set[str] = set()
        """Decisions whose actions before the dispatch were carried out by this instance
        (a waiting dispatch comes back many times: a backend is freed or a prompt
        interrupted once)."""

    async def on_job(self, event: AnyEvent, delivery: Delivery) -> None:
        """job.submitted → first attempt. (Cancellation is decided by recovery.)"""
        if not isinstance(event, JobSubmitted):
            return
        try:
            workflow = apply_params(event.workflow, event.params, event.bindings)
        except InvalidWorkflowError as exc:
            await self._refuse(Attempt(event.job_id, 1, event.event_id, [event.workflow]), exc)
            return
        attempt = Attempt(
            event.job_id, 1, event.event_id, [workflow], dict(event.params), submitted=event
        )
        await self.d.dispatch(attempt, delivery.num_delivered)

    async def _refuse(self, attempt: Attempt, exc: InvalidWorkflowError) -> None:
        """A submission no prompt can be built from (a binding to a missing node, sent past
        JobClient's checks) fails attempt 1 as an invalid workflow, so the job ends (it was
        dead-lettered and stayed SUBMITTED forever)."""
        if await self.d.log.attempt_done(attempt.job_id, attempt.attempt):
            return
        evidence = FailureEvidence(
            surface="validation",
            validation_type="invalid_prompt",
            exception_type=type(exc).__name__,
            message=str(exc),
            node_id=exc.node,
        )
        await self.d.bus.publish(
            JobFailed(**attempt.envelope("dispatch-failed", self.d.source), evidence=evidence)
        )
        log.info("job.refused", job_id=attempt.job_id, reason=str(exc))

    async def on_decision(self, event: AnyEvent, delivery: Delivery) -> None:
        """recovery.decided → carry out its actions in order."""
        if not isinstance(event, RecoveryDecided):
            return
        uploads = [a for a in event.actions if isinstance(a, UploadInput)]
        for action in event.actions:
            if isinstance(action, Dispatch):
                if len(self._acted) > 10_000:
                    self._acted.clear()
                self._acted.add(event.event_id)  # every action before it is done
            elif event.event_id in self._acted:
                continue  # carried out on an earlier delivery (the dispatch waited)
            await self._act(event, action, uploads, delivery)

    async def _act(
        self, event: RecoveryDecided, action: Any, uploads: list[UploadInput], delivery: Delivery
    ) -> None:
        match action:
            case FreeVram():
                await self._best_effort(
                    action.backend_id,
                    self.d.clients[action.backend_id].free(
                        action.unload_models, action.free_memory
                    ),
                )
            case Interrupt():
                await self._best_effort(
                    action.backend_id,
                    self.d.interrupt(
                        event.job_id,
                        event.attempt,
                        action.backend_id,
                        action.prompt_id,
                        action.reason or event.reason,
                        event.event_id,
                    ),
                )
            case Dispatch():
                await self._dispatch(event, action, uploads, delivery)
            case Abort() | UploadInput() | QuarantineBackend():
                # a quarantine is the breaker recovery opened in KV (read by selection);
                # a restart it asks for is the monitor's
                pass

    async def _dispatch(
        self,
        event: RecoveryDecided,
        action: Dispatch,
        uploads: list[UploadInput],
        delivery: Delivery,
    ) -> None:
        wait = not_yet(action.not_before)
        if wait > 0:
            # durable delay: the message comes back after `wait`; nothing sleeps in memory
            raise TransientError("retry not due yet", retry_after_s=wait)
        assets = []
        if uploads:
            submitted = await self.d.submitted_event(event.job_id)
            wanted = {u.name for u in uploads}
            assets = [a for a in (submitted.inputs if submitted else []) if a.name in wanted]
        constraints = Constraints(
            hint=action.backend_hint,
            exclude=frozenset(action.exclude_backends),
            version_other_than=action.require_version_other_than,
            device_other_than=action.require_device_other_than,
        )
        attempt = Attempt(
            event.job_id,
            action.attempt,
            event.event_id,
            list(action.workflows),
            dict(action.params),
            constraints,
            action.resume,
            assets,
            action.wait_until,
        )
        await self.d.dispatch(attempt, delivery.num_delivered)

    async def _best_effort(self, backend_id: str, op: Any) -> None:
        """An action on a backend that is down or broken is moot: its prompts are gone anyway."""
        try:
            await op
        except (ComfyUnreachableError, ComfyReplyError) as exc:
            log.warning("action.backend_failed", backend=backend_id, error=str(exc))

    async def on_control(self, event: AnyEvent, delivery: Delivery) -> None:
        """Emergency stop: pause dispatch, interrupt and dequeue all our prompts."""
        match event:
            case EmergencyStopRequested():
                self.d.paused = True
                await self.stop_everything(event.event_id)
            case DispatchResumed():
                self.d.paused = False
                log.info("dispatch.resumed")

    async def stop_everything(self, cause_id: str) -> None:
        """Interrupt every prompt of ours on every backend (by prompt id)."""
        for backend_id, client in self.d.clients.items():
            try:
                queue = await client.queue()
            except (ComfyUnreachableError, ComfyReplyError):
                continue
            for item in queue.get("queue_running", []) + queue.get("queue_pending", []):
                ours = (item[3] if len(item) > 3 else {}).get(EXTRA_DATA_KEY)
                if ours:
                    await self._best_effort(
                        backend_id,
                        self.d.interrupt(
                            ours["job_id"],
                            int(ours.get("attempt", 0)),
                            backend_id,
                            str(item[1]),
                            "emergency stop",
                            cause_id,
                        ),
                    )
