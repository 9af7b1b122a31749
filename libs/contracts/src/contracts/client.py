"""`JobClient`: submit ComfyUI jobs, follow them, wait for results, cancel and retry."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import KeyNotFoundError, NotFoundError

from contracts import codec, subjects
from contracts.bus import Bus
from contracts.codec import AnyEvent
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.eligibility import cancel_refusal, retry_refusal
from contracts.envelope import CONTROL_JOB_ID, derive_event_id, new_event_id, utcnow
from contracts.errors import (
    JobNotEligibleError,
    JobNotFoundError,
    PermanentError,
    SubmitRefusedError,
)
from contracts.job import (
    Binding,
    InputAsset,
    JobCancelRequested,
    JobCompleted,
    JobRetryRequested,
    JobSubmitted,
)
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus, JobView, decode_view
from contracts.recovery import Abort, RecoveryDecided
from contracts.settings import BusSettings
from contracts.workflow import check_size, resolve_bindings, submission_limit, validate_workflow


@dataclass
class JobResult:
    """How a job ended, as read from its own events."""

    job_id: str
    status: JobStatus
    attempts: int
    outputs: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    user_message: str | None = None
    actionable_steps: list[str] = field(default_factory=list)
    events: list[AnyEvent] = field(default_factory=list)


IDLE_POLL_S: Final = (0.02, 0.5)
"""How often a follower looks for a job's next event while none is stored: first, at most."""
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
SUBMITTED_ROLE: Final = "submitted"
"""A job's submission event id is ``derive_event_id(job_id, SUBMITTED_ROLE)``: one per job."""


def is_valid_job_id(job_id: str) -> bool:
    """Whether `job_id` can be a subject token and a KV key (letters, digits, - and _)."""
    return _JOB_ID.fullmatch(job_id) is not None


def terminal_status(event: AnyEvent) -> JobStatus | None:
    """COMPLETED/ABORTED/CANCELLED when `event` ends its job, else None."""
    if isinstance(event, JobCompleted):
        return JobStatus.COMPLETED
    if isinstance(event, RecoveryDecided) and event.terminal:
        for action in event.actions:
            if isinstance(action, Abort):
                return JobStatus.CANCELLED if action.cancelled else JobStatus.ABORTED
    return None


class JobClient:
    """The library any program (ours or a user's) uses to run ComfyUI jobs.

    Example:
        async with await JobClient.connect(BusSettings()) as client:
            job_id = await client.submit(workflow, params={"5.width": 768})
            result = await client.result(job_id, timeout=600)
    """

    def __init__(self, bus: Bus, *, source: str = "client") -> None:
        self.bus = bus
        self.source = source

    @classmethod
    async def connect(cls, settings: BusSettings, *, source: str = "client") -> JobClient:
        """Connect to NATS (streams are ensured).

        Raises:
            BusUnavailableError: NATS is not reachable.
        """
        return cls(await Bus.connect(settings, name=source), source=source)

    async def __aenter__(self) -> JobClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection."""
        await self.bus.close()

    async def submit(
        self,
        workflow: dict[str, Any],
        params: dict[str, Any] | None = None,
        policy: RecoveryPolicy | None = None,
        *,
        bindings: dict[str, Binding] | None = None,
        expected_outputs: list[str] | None = None,
        inputs: list[InputAsset] | None = None,
        labels: dict[str, str] | None = None,
        job_id: str | None = None,
    ) -> str:
        """Submit a workflow (API format) and return its job id.

        Every parameter must land somewhere: a ``bindings`` entry, or a name of the form
        ``NODE.INPUT`` (``{"5.width": 1024}``); see `contracts.workflow.resolve_bindings`.

        Idempotent per job id: the event id derives from the job id, so submitting again
        after an error (the first publish may have been stored after all) never makes a
        second ``job.submitted``. Given the id of a job that was submitted with the same
        content, it returns that id; with other content, it refuses.

        Raises:
            InvalidWorkflowError: the graph is malformed, or a parameter or binding cannot
                apply (parameter, node and input named).
            WorkflowTooLargeError: the submission is over `submission_limit` (both named).
            SubmitRefusedError: `job_id` is taken by a different submission.
            BusUnavailableError: the event could not be stored (submit again, same job id).
        """
        validate_workflow(workflow)
        params = params or {}
        resolved = resolve_bindings(workflow, params, bindings or {})
        given = job_id is not None
        job_id = job_id or new_event_id()
        if not is_valid_job_id(job_id):
            raise ValueError(f"job id {job_id!r}: use letters, digits, '-', '_' (at most 128)")
        event = JobSubmitted(
            event_id=derive_event_id(job_id, SUBMITTED_ROLE),
            job_id=job_id,
            occurred_at=utcnow(),
            source=self.source,
            workflow=workflow,
            params=params,
            bindings=resolved,
            policy=policy,
            expected_outputs=expected_outputs or [],
            inputs=inputs or [],
            labels=labels or {},
        )
        check_size(len(codec.encode(event)), self.submission_limit)
        if given:
            stored = await self._submission(job_id)
            if stored is not None:
                if _same_request(stored, event):
                    return job_id
                raise SubmitRefusedError(f"job id {job_id} is taken by a different submission")
        await self.bus.publish(event)
        return job_id

    @property
    def submission_limit(self) -> int:
        """The largest encoded submission in bytes (from the server's max_payload)."""
        return submission_limit(self.bus.nc.max_payload)

    async def _submission(self, job_id: str) -> JobSubmitted | None:
        """The job's stored submission, if any."""
        try:
            msg = await self.bus.js.get_last_msg(
                subjects.EVENTS_STREAM, subjects.per_job(subjects.JOB_SUBMITTED, job_id)
            )
        except NotFoundError:
            return None
        try:
            event = codec.decode(msg.data or b"")
        except PermanentError:
            return None
        return event if isinstance(event, JobSubmitted) else None

    async def _standing(self, job_id: str) -> JobStatus:
        """The job's status for an operator action (SUBMITTED while the read model lags).

        Raises:
            JobNotFoundError: neither a read model nor a submission exists.
        """
        try:
            return (await self.status(job_id)).status
        except JobNotFoundError:
            if await self._submission(job_id) is None:
                raise
            return JobStatus.SUBMITTED

    async def _next(self, job_id: str, seq: int) -> Any:
        """The job's first stored message at or after `seq` (a direct get), or None."""
        try:
            return await self.bus.js.get_msg(
                subjects.EVENTS_STREAM,
                seq=seq,
                subject=subjects.job_history(job_id),
                next=True,
                direct=True,
            )
        except NotFoundError:
            return None

    async def _events(self, job_id: str, *, live: bool) -> AsyncIterator[tuple[AnyEvent, bool]]:
        """The job's stored events in order, then (if `live`) new ones as they are stored.

        Yields (event, whether a newer event is already stored). Reads by direct get, one
        message after the other, rather than through an ordered push consumer: those are
        known to stall silently (nats-io/nats.py#510), which would leave a follower waiting
        for an event that was stored long ago.
        """
        seq, idle = 1, IDLE_POLL_S[0]
        msg = await self._next(job_id, seq)
        while True:
            if msg is None:
                if not live:
                    return
                await asyncio.sleep(idle)
                idle = min(idle * 2, IDLE_POLL_S[1])
                try:
                    msg = await self._next(job_id, seq)
                except (NatsTimeout, TimeoutError, ConnectionClosedError, NoRespondersError):
                    msg = None  # the server is restarting: keep polling
                continue
            idle, seq = IDLE_POLL_S[0], int(msg.seq) + 1
            data = msg.data or b""
            msg = await self._next(job_id, seq)
            try:
                event = codec.decode(data)
            except PermanentError:
                continue
            yield event, msg is not None

    async def follow(self, job_id: str, *, until_terminal: bool = True) -> AsyncIterator[AnyEvent]:
        """Yield the job's events from the first, live; stop after a terminal one.

        Stops at a terminal event only when nothing newer is already stored (a retry
        requested after an abort goes on).
        """
        async for event, more in self._events(job_id, live=True):
            yield event
            ended = until_terminal and terminal_status(event) is not None
            if ended and (not more or not await self._reopened_after(job_id, event.event_id)):
                return

    async def _reopened_after(self, job_id: str, event_id: str) -> bool:
        """Whether a retry was requested after the event `event_id` (a late progress report
        or a duplicate outcome after the end does not reopen a job; a retry request does)."""
        events = await self.history(job_id)
        index = next((i for i, e in enumerate(events) if e.event_id == event_id), len(events))
        return any(isinstance(e, JobRetryRequested) for e in events[index + 1 :])

    async def result(self, job_id: str, timeout: float | None = None) -> JobResult:
        """Wait until the job is COMPLETED, ABORTED or CANCELLED.

        Raises:
            TimeoutError: it did not end within `timeout` seconds.
        """
        return await asyncio.wait_for(self._collect(job_id), timeout)

    async def _collect(self, job_id: str) -> JobResult:
        result = JobResult(job_id, JobStatus.SUBMITTED, 0)
        async for event in self.follow(job_id):
            result.events.append(event)
            result.attempts = max(result.attempts, event.attempt)
            status = terminal_status(event)
            if status is None:
                continue
            result.status = status
            if isinstance(event, JobCompleted):
                result.outputs = {k: [f.filename for f in v] for k, v in event.outputs.items()}
            else:
                abort = next(a for a in event.actions if isinstance(a, Abort))  # type: ignore[union-attr]
                result.reason = abort.reason
                result.user_message = abort.user_message
                result.actionable_steps = list(abort.actionable_steps)
        return result

    async def history(self, job_id: str) -> list[AnyEvent]:
        """Every stored event of the job, in order (no waiting).

        Raises:
            JobNotFoundError: no event exists for that id.
        """
        if not is_valid_job_id(job_id):
            raise JobNotFoundError(job_id)
        events: list[AnyEvent] = []
        async for event, _ in self._events(job_id, live=False):
            events.append(event)
        if not events:
            raise JobNotFoundError(job_id)
        return events

    async def status(self, job_id: str) -> JobView:
        """The job's read model (kept by the recovery service).

        Raises:
            JobNotFoundError: no such job in the read model.
        """
        if not is_valid_job_id(job_id):
            raise JobNotFoundError(job_id)
        kv = await self.bus.kv(subjects.KV_JOBS)
        try:
            entry = await kv.get(job_id)
        except KeyNotFoundError as exc:
            raise JobNotFoundError(job_id) from exc
        if entry.value is None:
            raise JobNotFoundError(job_id)
        return decode_view(entry.value)

    async def cancel(self, job_id: str, reason: str = "") -> None:
        """Ask for the job to stop (its running prompt is interrupted by id).

        Raises:
            JobNotFoundError: no such job.
            JobNotEligibleError: it has already ended (nothing published).
        """
        status = await self._standing(job_id)
        refusal = cancel_refusal(status)
        if refusal is not None:
            raise JobNotEligibleError(job_id, status.value, refusal)
        await self.bus.publish(
            JobCancelRequested(
                event_id=new_event_id(),
                job_id=job_id,
                occurred_at=utcnow(),
                source=self.source,
                reason=reason,
                requested_by=self.source,
            )
        )

    async def retry(
        self, job_id: str, *, force: bool = False, policy: RecoveryPolicy | None = None
    ) -> None:
        """Ask for an aborted job to run again (``force`` also cancelled and completed ones).

        Raises:
            JobNotFoundError: no such job.
            JobNotEligibleError: its status does not allow it (nothing published); see
                `contracts.eligibility`.
        """
        status = await self._standing(job_id)
        refusal = retry_refusal(status, force)
        if refusal is not None:
            raise JobNotEligibleError(job_id, status.value, refusal)
        await self.bus.publish(
            JobRetryRequested(
                event_id=new_event_id(),
                job_id=job_id,
                occurred_at=utcnow(),
                source=self.source,
                force=force,
                policy=policy,
                requested_by=self.source,
            )
        )

    async def emergency_stop(self, reason: str = "") -> None:
        """Interrupt every prompt of ours on every backend and pause dispatch."""
        await self.bus.publish(
            EmergencyStopRequested(
                event_id=new_event_id(),
                job_id=CONTROL_JOB_ID,
                occurred_at=utcnow(),
                source=self.source,
                reason=reason,
                requested_by=self.source,
            )
        )

    async def resume(self) -> None:
        """Let dispatch go on after an emergency stop."""
        await self.bus.publish(
            DispatchResumed(
                event_id=new_event_id(),
                job_id=CONTROL_JOB_ID,
                occurred_at=utcnow(),
                source=self.source,
                requested_by=self.source,
            )
        )


def _same_request(stored: JobSubmitted, event: JobSubmitted) -> bool:
    """Whether two submissions ask for the same thing (time and source aside)."""
    return msgspec.structs.replace(stored, occurred_at=event.occurred_at, source=event.source) == (
        event
    )
