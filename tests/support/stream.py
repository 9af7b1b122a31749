"""Reading back what a stream holds, for assertions: every message stored at the moment of
the call, however slowly the server hands them over on a loaded machine."""

from __future__ import annotations

import asyncio
from typing import Final

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api as js_api

from contracts import AnyEvent, decode
from cr_client import Bus

FETCH_S: Final = 1.0
"""One pull's wait. A pull that times out only means "nothing more yet": it is retried."""
READ_S: Final = 60.0
"""Upper bound of one read, so a broken server fails a test instead of hanging it."""


async def stored_messages(bus: Bus, stream: str, subject: str = ">") -> list[Msg]:
    """Every message on `subject` in `stream` when called, oldest first.

    The count is fixed when the reader is created (a pull consumer has nothing delivered
    yet), so a fetch timeout is never mistaken for the end, and later messages are not read.

    Raises:
        TimeoutError: the stored messages did not all arrive within `READ_S`.
    """
    config = js_api.ConsumerConfig(
        ack_policy=js_api.AckPolicy.NONE, deliver_policy=js_api.DeliverPolicy.ALL
    )
    sub = await bus.js.pull_subscribe(subject, stream=stream, config=config)
    found: list[Msg] = []
    try:
        wanted = (await sub.consumer_info()).num_pending
        async with asyncio.timeout(READ_S):
            while len(found) < wanted:
                try:
                    found += await sub.fetch(min(256, wanted - len(found)), timeout=FETCH_S)
                except (NatsTimeout, TimeoutError):
                    continue  # nothing more yet: a loaded server is slow, not empty
    finally:
        await sub.unsubscribe()
    return found


async def stored_events(bus: Bus, stream: str, subject: str = ">") -> list[AnyEvent]:
    """`stored_messages`, decoded (an undecodable message raises)."""
    return [decode(msg.data) for msg in await stored_messages(bus, stream, subject)]
