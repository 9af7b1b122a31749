"""Pull batches off a JetStream consumer without a task per message.

nats-py's ``PullSubscription.fetch(n)`` waits for each of the n messages with its own
``next_msg`` (a new task, a uuid and an ``asyncio.wait_for``): about 100 µs a message, more
than most handlers spend on it. `BatchPull` speaks the same JetStream pull protocol
(``$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>``, a no-wait request first, a lingering one
with ``expires`` only when nothing is there) through one plain subscription with a callback,
which only appends. Each request has its own reply subject, so a status that ends an older
request (its 408 on expiry) never cuts a newer one short; messages an older request still
brings are kept for the next fetch. Messages are acked (or not) by the caller, one by one.

A lingering request waits for its whole batch (a projector's insert wants it full) unless
the pull is made with ``fill=False``: then it returns with the first messages to come (a
latency-bound consumer would otherwise hold a trickle for its whole timeout).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any, Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import APIError

ENDS_REQUEST: Final = frozenset({"404", "408", "409"})
"""Statuses after which a pull request brings nothing more (nats-py's "temporary" ones:
no messages, request timeout, conflict)."""
HEARTBEAT: Final = "100"
STATUS: Final = "Status"
PENDING_LIMIT: Final = 1_000_000
"""Messages buffered in the client before it drops (a dropped one is redelivered later)."""


class BatchPull:
    """One durable's pull requests and their replies, on one wildcard inbox.

    Args:
        nc: the connection.
        stream: the stream's name.
        durable: the durable consumer's name.
        fill: whether a lingering request waits for its whole batch (or `timeout`), or
            returns as soon as messages come.
    """

    def __init__(self, nc: Client, stream: str, durable: str, *, fill: bool = True) -> None:
        self._nc = nc
        self._fill = fill
        self._next = f"{api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._ready: deque[Msg] = deque()
        self._requests = 0
        self._current = ""
        self._ended = False
        self._error: Msg | None = None
        self._want = 0
        self._wake = asyncio.Event()

    async def open(self) -> BatchPull:
        """Subscribe to the inbox the requests' replies come to."""
        self._sub = await self._nc.subscribe(
            f"{self._inbox}.*",
            cb=self._on_msg,
            pending_msgs_limit=PENDING_LIMIT,
            pending_bytes_limit=-1,
        )
        return self

    async def unsubscribe(self) -> None:
        """Stop receiving (messages not yet returned are redelivered after ack_wait)."""
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.unsubscribe()

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages: what is there at once, else the first to come within
        `timeout` and (when filling) all that follow them until `batch` or `timeout`.

        Raises:
            nats.errors.TimeoutError: nothing came within `timeout`.
            nats.js.errors.APIError: the server refused the pull (e.g. the consumer is gone).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if len(self._ready) < batch:
            await self._request(batch - len(self._ready), deadline, no_wait=True)
        if not self._ready and loop.time() < deadline:
            await self._request(batch, deadline, no_wait=False)
        if not self._ready:
            raise NatsTimeout
        return [self._ready.popleft() for _ in range(min(batch, len(self._ready)))]

    async def _request(self, count: int, deadline: float, *, no_wait: bool) -> None:
        """Ask for `count` more and wait until they are in, the request ends, or `deadline`."""
        loop = asyncio.get_running_loop()
        self._requests += 1
        self._current = f"{self._inbox}.{self._requests}"
        self._ended, self._error = False, None
        self._want = len(self._ready) + (count if no_wait or self._fill else 1)
        self._wake.clear()
        request: dict[str, Any] = {"batch": count}
        if no_wait:
            request["no_wait"] = True
        else:
            request["expires"] = max(int((deadline - loop.time()) * 1e9) - 100_000, 1_000_000)
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._current)
        try:
            async with asyncio.timeout_at(deadline):
                while not self._ended and len(self._ready) < self._want:
                    self._wake.clear()
                    await self._wake.wait()
        except TimeoutError:
            pass
        if self._error is not None:
            raise APIError.from_msg(self._error)

    async def _on_msg(self, msg: Msg) -> None:
        status = msg.headers.get(STATUS) if msg.headers else None
        if not status:
            self._ready.append(msg)
            if len(self._ready) >= self._want:
                self._wake.set()
            return
        if status == HEARTBEAT or msg.subject != self._current:
            return  # a heartbeat, or the end of an older request
        if status not in ENDS_REQUEST:
            self._error = msg
        self._ended = True
        self._wake.set()
