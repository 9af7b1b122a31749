"""Reading a job back from the bus: its events (live or stored), its outcome, its read model.

`JobClient` (the write side: submit, cancel, retry, control) builds on `JobReader`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

from nats.js.errors import KeyNotFoundError, NotFoundError

from contracts import codec, subjects
from contracts.codec import AnyEvent
from contracts.errors import JobNotFoundError, PermanentError
from contracts.job import JobCompleted, JobRetryRequested, JobSubmitted
from contracts.readmodel import JobStatus, JobView, decode_view
from contracts.recovery import Abort, RecoveryDecided
from cr_client.backoff import Backoff
from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT


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
_IDLE_BACKOFF: Final = Backoff(*IDLE_POLL_S)
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


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


class JobReader:
    """Reads one job's events and read model (no writes)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

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
        seq, misses = 1, 0
        msg = await self._next(job_id, seq)
        while True:
            if msg is None:
                if not live:
                    return
                misses += 1
                await asyncio.sleep(_IDLE_BACKOFF.delay(misses))
                try:
                    msg = await self._next(job_id, seq)
                except TRANSIENT:
                    msg = None  # the server is restarting: keep polling
                continue
            misses, seq = 0, int(msg.seq) + 1
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
            elif isinstance(event, RecoveryDecided):
                abort = next(a for a in event.actions if isinstance(a, Abort))
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
