"""The shared durable consumer, fetching with `cr_client.pull.BatchPull`.

nats-py's ``fetch(n)`` costs about 100 µs a message (a task per message), more than many
handlers spend on it; `BatchPull` receives a batch through one callback. Everything else
(decode, dead letters, ack after the handler returned, watchdog) is the shared consumer's.
Acks stay explicit, one per message (``msg.ack()`` is a publish without a reply), so
instances sharing the durable never ack each other's messages.

`ConcurrentConsumer` is the same consumer for durables that need no order (the
classifier's): a batch's messages are handled side by side, so their publishes' fsynced acks
are awaited together instead of one after another.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.msg import Msg

from cr_client.pull import BatchPull
from cr_client.streams import ensure_consumer
from cr_runtime.consumer import Consumer


class BulkConsumer(Consumer):
    """The shared durable consumer, fetching with `BatchPull`."""

    fill_batches = True
    """Whether a fetch waits for a whole batch (or its timeout) when none is waiting: right
    for a projector's inserts; a latency-bound subclass returns with the first messages."""

    async def _bind(self) -> Any:
        if self._sub is None:
            await self._before_bind()
            await ensure_consumer(self.bus.js, self.spec, self.bus.settings)
            info = await self.bus.js.consumer_info(self.spec.stream, self.spec.durable)
            self.max_deliver = int(info.config.max_deliver or -1)
            spec = self.spec
            pull = BatchPull(self.bus.nc, spec.stream, spec.durable, fill=self.fill_batches)
            self._sub = await pull.open()
        return self._sub

    async def _before_bind(self) -> None:
        """What a subclass does to the durable before it is ensured (nothing here)."""


class ConcurrentConsumer(BulkConsumer):
    """A `BulkConsumer` that handles each fetched batch's messages concurrently.

    Only for durables whose messages need no order among themselves. Each message keeps
    the shared outcome mapping on its own: it is acked after its own handler returned, and
    a handler that fails naks (or dead-letters) only its message. `batch` bounds how many
    are in flight at once (and never exceeds the durable's ``max_ack_pending``). A fetch
    returns with the first messages to come: a trickle is not held for a full batch.
    """

    fill_batches = False

    async def _process(self, msgs: list[Msg]) -> None:
        deliveries = [d for d in [await self._decode(m) for m in msgs] if d is not None]
        await asyncio.gather(*(self._run_one(d) for d in deliveries))
