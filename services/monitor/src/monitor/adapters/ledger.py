"""Our own event log read back: replaying a subject, and the interrupts we sent for a job."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Final

from nats.js import api as js_api
from nats.js.errors import NotFoundError

from contracts import codec, subjects
from contracts.codec import AnyEvent
from contracts.errors import BusUnavailableError, PermanentError
from contracts.job import InterruptSent
from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT

REPLAY_WAIT_S: Final = 5.0
"""How long one stored message may take to arrive before NATS counts as unavailable."""


class Ledger:
    """Reads the events stream. NATS failures become `BusUnavailableError`."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def _last_seq(self, subject: str) -> int:
        """The stream sequence of the newest message on `subject` (0: none)."""
        try:
            msg = await self.bus.js.get_last_msg(subjects.EVENTS_STREAM, subject)
        except NotFoundError:
            return 0
        except TRANSIENT as exc:
            raise BusUnavailableError(f"reading {subject}: {exc!r}") from exc
        return int(msg.seq or 0)

    async def replay(self, subject: str) -> AsyncGenerator[AnyEvent, None]:
        """Every decodable event stored on `subject`, oldest first, up to the newest now.

        An empty subject costs one request (no waiting for messages that never come).

        Raises:
            BusUnavailableError: NATS did not deliver the stored messages.
        """
        last = await self._last_seq(subject)
        if not last:
            return
        sub = await self.bus.js.subscribe(
            subject,
            ordered_consumer=True,
            stream=subjects.EVENTS_STREAM,
            deliver_policy=js_api.DeliverPolicy.ALL,
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=REPLAY_WAIT_S)
                except TRANSIENT as exc:
                    raise BusUnavailableError(f"replaying {subject}: {exc!r}") from exc
                with contextlib.suppress(PermanentError):
                    yield codec.decode(msg.data)
                if msg.metadata.sequence.stream >= last:
                    return
        finally:
            await sub.unsubscribe()

    async def interrupt_sent(self, job_id: str, prompt_id: str) -> bool:
        """Whether we recorded an interrupt of `prompt_id` (the stream is the truth).

        Raises:
            BusUnavailableError: NATS did not answer.
        """
        subject = subjects.per_job(subjects.JOB_INTERRUPT_SENT, job_id)
        async with contextlib.aclosing(self.replay(subject)) as events:
            async for event in events:
                if isinstance(event, InterruptSent) and event.prompt_id == prompt_id:
                    return True
        return False
