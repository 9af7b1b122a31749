"""A job's own events read back from the stream: its submission, how far its attempts got."""

from __future__ import annotations

import asyncio

from nats.js.errors import NotFoundError

from contracts import codec, subjects
from contracts.codec import AnyEvent
from contracts.errors import BusUnavailableError, PermanentError
from contracts.job import JobSubmitted
from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT


class JobLog:
    """Reads the events stream; a NATS timeout becomes `BusUnavailableError` (transient)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def last(self, family: str, job_id: str) -> AnyEvent | None:
        """The job's newest event of `family` (None: none, or not decodable)."""
        try:
            msg = await self.bus.js.get_last_msg(
                subjects.EVENTS_STREAM, subjects.per_job(family, job_id)
            )
        except NotFoundError:
            return None
        except TRANSIENT as exc:
            raise BusUnavailableError(f"reading {family} of {job_id}: {exc!r}") from exc
        try:
            return codec.decode(msg.data or b"")
        except PermanentError:
            return None

    async def submitted(self, job_id: str) -> JobSubmitted | None:
        """The job's submission (for its policy, inputs and expected outputs)."""
        event = await self.last(subjects.JOB_SUBMITTED, job_id)
        return event if isinstance(event, JobSubmitted) else None

    async def attempt_done(self, job_id: str, attempt: int) -> bool:
        """Whether `attempt` (or a later one) was already dispatched or failed.

        A decision delivered again, or a second decision for the same attempt, then has
        nothing left to do; attempts are numbered by recovery and never reused.
        """
        families = (subjects.JOB_DISPATCHED, subjects.JOB_FAILED)
        found = await asyncio.gather(*(self.last(family, job_id) for family in families))
        return any(event is not None and event.attempt >= attempt for event in found)
