"""Posting attempts to ComfyUI exactly once, and the write-side actions of decisions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Final

import structlog

from contracts.backends import monitor_client_id
from contracts.envelope import derive_event_id, prompt_id_for, utcnow
from contracts.errors import TransientError
from contracts.job import (
    DispatchedPrompt,
    FailureEvidence,
    InterruptSent,
    JobDispatched,
    JobFailed,
    JobSubmitted,
)
from cr_client.bus import Bus
from submitter import evidence
from submitter.adapters.claims import Claims
from submitter.adapters.comfy import ComfyClient
from submitter.adapters.job_log import JobLog
from submitter.adapters.registry import Registry
from submitter.attempt import Attempt
from submitter.errors import ComfyReplyError, ComfyUnreachableError
from submitter.posting import post_all
from submitter.selection import Constraints, choose_backend, only_full, why_none

log = structlog.get_logger(__name__)
PAUSED_RETRY_S: Final = 2.0
"""How often a dispatch held by an emergency stop looks again: `resume` takes effect within it."""


class Dispatcher:
    """Owns POSTs to ComfyUI; publishes job.dispatched, job.failed and job.interrupt_sent."""

    def __init__(
        self,
        bus: Bus,
        registry: Registry,
        clients: dict[str, ComfyClient],
        claims: Claims,
        *,
        source: str,
        no_backend_retry_s: float,
        default_stall_window_s: float,
        clock: Callable[[], float] = time.time,
        max_queue: int = 0,
    ) -> None:
        self.bus = bus
        self.source = source
        """Who publishes this dispatcher's events (``submitter/<instance>``)."""
        self.log = JobLog(bus)
        self.claims = claims
        self.registry = registry
        self.clients = clients
        self.no_backend_retry_s = no_backend_retry_s
        self.clock = clock
        self.max_queue = max_queue
        self.default_stall_window_s = default_stall_window_s
        self.paused = False

    def _client(self, backend_id: str) -> ComfyClient:
        return self.clients[backend_id]

    async def submitted_event(self, job_id: str) -> JobSubmitted | None:
        """The job's submission (for its policy and inputs), read straight from the stream."""
        return await self.log.submitted(job_id)

    async def dispatch(self, attempt: Attempt, deliveries: int) -> None:
        """Post every part of `attempt` once; publish the outcome as an event.

        Idempotency guard, in three layers: only the holder of the attempt's claim (KV)
        posts, to the backend the claim names; an attempt already dispatched or failed (in
        the stream) is not posted again; and prompt ids derive from (job, attempt, part), so
        the backend is asked for each before it is posted. Event ids derive from the attempt.

        Raises:
            TransientError: dispatch is paused, no backend can take it yet, or another
                instance holds the claim (the message comes back).
        """
        if self.paused:
            raise TransientError("dispatch paused by emergency stop", retry_after_s=PAUSED_RETRY_S)
        now = self.clock()
        views = self.registry.views
        limits = replace(attempt.constraints, max_queue=self.max_queue)
        view = choose_backend(views.values(), attempt.workflows, limits, now)
        if view is None and only_full(views.values(), limits, now):
            busy = self.busy_give_up(deliveries)
            if busy is not None:
                # backends are up, only busy: the job waits with us (a durable message)
                raise TransientError("every usable backend is busy", retry_after_s=busy)
        if view is None:
            # checked before any I/O: a waiting attempt comes back often and costs nothing
            await self._no_backend(attempt, deliveries, now)
            return
        # counted before the first await: jobs taken in concurrently choose after it
        view.dispatched(now)
        if await self._done(attempt):
            return
        key = prompt_id_for(attempt.job_id, attempt.attempt, 0)
        backend_id, fresh = await self._claim(key, attempt, view.id)
        if backend_id != view.id and backend_id in views:  # a claim taken over keeps its own
            views[backend_id].dispatched(now)
        # asked again while holding the claim: a holder releases only after publishing
        if not await self._done(attempt):
            await self._dispatch_to(self._client(backend_id), attempt, fresh)
        await self.claims.release(key)

    async def _done(self, attempt: Attempt) -> bool:
        done = await self.log.attempt_done(attempt.job_id, attempt.attempt)
        if done:
            log.info("dispatch.already_done", job_id=attempt.job_id, attempt=attempt.attempt)
        return done

    async def _claim(self, key: str, attempt: Attempt, backend_id: str) -> tuple[str, bool]:
        """Hold the attempt's claim; the backend to post to (a taken-over claim keeps its own:
        the prompt may already be there), and whether the claim is fresh.

        Fresh (created, not taken over) means no holder left this attempt unfinished: a
        holder releases only after publishing the outcome, which `_done` then finds. So the
        backend cannot have its prompts, and they are posted without asking it first.

        Raises:
            TransientError: another instance holds it and may still be posting.
        """
        now = time.time()
        standing = await self.claims.take(key, backend_id, attempt.job_id, attempt.attempt, now)
        if standing is None:
            return backend_id, True
        if self.claims.may_take_over(standing, now) and await self.claims.take_over(
            key, standing, now
        ):
            claimed = standing.record.backend_id
            return (claimed if claimed in self.clients else backend_id), False
        wait = max(1.0, self.claims.stale_after_s / 10)
        raise TransientError("another submitter instance holds this attempt", wait)

    async def _dispatch_to(self, client: ComfyClient, attempt: Attempt, fresh: bool) -> None:
        backend_id = client.ref.id
        submitted = attempt.submitted or await self.submitted_event(attempt.job_id)
        expected = list(submitted.expected_outputs) if submitted else []
        try:
            for asset in attempt.uploads:
                await client.upload_image(asset.name, asset.data_b64, asset.subfolder)
            prompts, failure = await post_all(client, attempt, expected, fresh)
        except ComfyUnreachableError as exc:
            await self._fail(
                attempt, backend_id, None, evidence.unreachable(exc.exception_type, exc.message)
            )
            return
        except ComfyReplyError as exc:
            await self._fail(attempt, backend_id, None, evidence.http_error(exc.status, exc.body))
            return
        if failure is not None:
            await self._fail(attempt, backend_id, failure[0], failure[1])
            return
        await self._dispatched(attempt, backend_id, prompts, submitted)

    async def _dispatched(
        self,
        attempt: Attempt,
        backend_id: str,
        prompts: list[DispatchedPrompt],
        submitted: JobSubmitted | None,
    ) -> None:
        policy = submitted.policy if submitted else None
        deadline = None
        if submitted and policy and policy.deadline_s:
            deadline = submitted.occurred_at.timestamp() + policy.deadline_s
        await self.bus.publish(
            JobDispatched(
                **attempt.envelope("dispatched", self.source),
                backend_id=backend_id,
                prompts=prompts,
                client_id=monitor_client_id(backend_id),
                params=attempt.params,
                resumed=attempt.resume,
                deadline_at=deadline,
                stall_window_s=policy.stall_window_s if policy else self.default_stall_window_s,
            )
        )
        log.info(
            "job.dispatched", job_id=attempt.job_id, attempt=attempt.attempt, backend=backend_id
        )

    async def _fail(
        self, attempt: Attempt, backend_id: str | None, prompt_id: str | None, ev: FailureEvidence
    ) -> None:
        await self.bus.publish(
            JobFailed(
                **attempt.envelope("dispatch-failed", self.source),
                backend_id=backend_id,
                prompt_id=prompt_id,
                evidence=ev,
            )
        )
        log.info(
            "job.dispatch_failed", job_id=attempt.job_id, surface=ev.surface, backend=backend_id
        )

    def busy_give_up(self, deliveries: int) -> float | None:
        """The pause before looking again while every usable backend is busy; None once the
        message nears the durable's delivery limit (it is then reported, and recovery's
        held decision carries the wait on)."""
        limit = self.bus.settings.max_deliver
        if limit > 0 and deliveries >= limit - 2:
            return None
        return min(1.0, self.no_backend_retry_s)

    async def _no_backend(self, attempt: Attempt, deliveries: int, now: float) -> None:
        """No backend can take `attempt` now. A wait recovery decided is held here (the
        message comes back) until its `wait_until`; anything else is reported at once as
        ``no_backend`` — recovery then decides the wait, which the read model shows. A
        wait near the durable's delivery limit is reported too, so recovery renews it.

        Raises:
            TransientError: the attempt waits; it comes back after a short pause.
        """
        left = attempt.wait_until.timestamp() - now if attempt.wait_until else 0.0
        limit = self.bus.settings.max_deliver
        renew = limit > 0 and deliveries >= limit - 2
        if left > 0 and not renew:
            busy = only_full(self.registry.views.values(), limits_of(attempt, self), now)
            pause = min(1.0, self.no_backend_retry_s) if busy else self.no_backend_retry_s
            raise TransientError("waiting for a usable backend", retry_after_s=min(pause, left))
        if await self._done(attempt):
            return
        why = why_none(self.registry.views.values(), limits_of(attempt, self), now)
        await self._fail(
            attempt,
            None,
            None,
            FailureEvidence(
                surface="client",
                exception_type="ConnectionError",
                message=f"no ComfyUI backend can take the job now: {why}",
                observation="no_backend",
            ),
        )

    async def interrupt(
        self, job_id: str, attempt: int, backend_id: str, prompt_id: str, reason: str, cause_id: str
    ) -> None:
        """Delete `prompt_id` if queued, interrupt it if running, and record that we did."""
        client = self._client(backend_id)
        # recorded first, so the monitor knows the coming execution_interrupted is ours
        await self.bus.publish(
            InterruptSent(
                event_id=derive_event_id(cause_id, f"interrupt:{prompt_id}"),
                job_id=job_id,
                attempt=attempt,
                occurred_at=utcnow(),
                source=self.source,
                causation_id=cause_id,
                backend_id=backend_id,
                prompt_id=prompt_id,
                reason=reason,
            )
        )
        await client.delete_queued([prompt_id])
        await client.interrupt(prompt_id)


def limits_of(attempt: Attempt, dispatcher: Dispatcher) -> Constraints:
    """The attempt's constraints with the dispatcher's queue limit."""
    return replace(attempt.constraints, max_queue=dispatcher.max_queue)
