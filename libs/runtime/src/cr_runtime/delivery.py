"""One received message (`Delivery`), the handler signatures, and settling a message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from nats.aio.msg import Msg

from contracts.codec import AnyEvent
from cr_client.nats_errors import TRANSIENT

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One received message with its decoded event."""

    event: AnyEvent
    msg: Msg

    @property
    def num_delivered(self) -> int:
        """How many times this message has been delivered (1 on the first)."""
        return int(self.msg.metadata.num_delivered)

    @property
    def stream_seq(self) -> int:
        """The message's sequence number in its stream."""
        return int(self.msg.metadata.sequence.stream)


Handler = Callable[[AnyEvent, Delivery], Awaitable[None]]
BatchHandler = Callable[[Sequence[Delivery]], Awaitable[None]]


def backoff(delivery: Delivery) -> float:
    """Redelivery delay after a bug: doubling per delivery, at most a minute."""
    return min(2.0**delivery.num_delivered, 60.0)


async def settle(op: Awaitable[None]) -> None:
    """Ack/nak/term; a lost ack only means a redelivery, which handlers tolerate."""
    try:
        await op
    except TRANSIENT as exc:
        log.warning("consumer.ack_lost", error=repr(exc))
