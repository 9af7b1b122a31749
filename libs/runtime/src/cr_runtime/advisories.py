"""JetStream's own give-ups: the MAX_DELIVERIES advisory, turned into a dead letter.

A consumer dead-letters a message itself when it would nak it on its last delivery
(`cr_runtime.consumer`). The one case it cannot see is a last delivery that was never
answered (the handler outlived ``ack_wait``, or the process died): JetStream then drops
the message and publishes an advisory. `GiveUps` listens for it on the durable's subject
and dead-letters the message by its stream sequence, so nothing is lost silently.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from nats.js.errors import NotFoundError

from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT

log = structlog.get_logger(__name__)
MAX_DELIVERIES_ADVISORY: Final = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"
"""The server's subject for 'gave a message up after max_deliver' (core NATS)."""

DeadLetter = Callable[[str, bytes, int, str], Awaitable[None]]
"""(original subject, data, stream sequence, reason) → the message is dead-lettered."""


class GiveUps:
    """Subscribes to one durable's MAX_DELIVERIES advisories while started."""

    def __init__(self, bus: Bus, stream: str, durable: str, dead_letter: DeadLetter) -> None:
        self.bus = bus
        self.stream = stream
        self.subject = MAX_DELIVERIES_ADVISORY.format(stream=stream, durable=durable)
        self.dead_letter = dead_letter
        self._sub: Any = None

    async def start(self) -> None:
        """Listen (idempotent). Not being able to listen is logged, never fatal: the
        consumer's own last-delivery check still dead-letters what it naks."""
        if self._sub is None:
            try:
                self._sub = await self.bus.nc.subscribe(self.subject, cb=self._on_advisory)
            except Exception as exc:  # noqa: BLE001 - e.g. the connection is closing
                log.warning("advisory.subscribe_failed", subject=self.subject, error=repr(exc))

    async def stop(self) -> None:
        """Stop listening."""
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - closing: nothing left to do
                log.info("advisory.unsubscribe_failed", error=repr(exc))

    async def _on_advisory(self, msg: Any) -> None:
        try:
            advisory = json.loads(msg.data)
            seq, deliveries = int(advisory["stream_seq"]), int(advisory.get("deliveries", 0))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("advisory.undecodable", subject=self.subject, error=repr(exc))
            return
        try:
            raw = await self.bus.js.get_msg(self.stream, seq)
        except NotFoundError:
            log.warning("advisory.message_gone", stream=self.stream, seq=seq)
            return
        except TRANSIENT as exc:
            log.warning("advisory.read_failed", stream=self.stream, seq=seq, error=repr(exc))
            return
        reason = (
            f"max_deliver: given up by JetStream after {deliveries} deliveries "
            "(the last one was never acknowledged)"
        )
        await self.dead_letter(str(raw.subject), raw.data or b"", seq, reason)
