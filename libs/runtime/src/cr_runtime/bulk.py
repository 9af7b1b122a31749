"""The shared durable consumer, fetching with `cr_client.pull.BatchPull`.

nats-py's ``fetch(n)`` costs about 100 µs a message (a task per message), more than many
handlers spend on it; `BatchPull` receives a batch through one callback. Everything else
(decode, dead letters, ack after the handler returned, watchdog) is the shared consumer's.
Acks stay explicit, one per message (``msg.ack()`` is a publish without a reply), so
instances sharing the durable never ack each other's messages.
"""

from __future__ import annotations

from typing import Any

from cr_client.pull import BatchPull
from cr_client.streams import ensure_consumer
from cr_runtime.consumer import Consumer


class BulkConsumer(Consumer):
    """The shared durable consumer, fetching with `BatchPull`."""

    async def _bind(self) -> Any:
        if self._sub is None:
            await self._before_bind()
            await ensure_consumer(self.bus.js, self.spec, self.bus.settings)
            info = await self.bus.js.consumer_info(self.spec.stream, self.spec.durable)
            self.max_deliver = int(info.config.max_deliver or -1)
            pull = BatchPull(self.bus.nc, self.spec.stream, self.spec.durable)
            self._sub = await pull.open()
        return self._sub

    async def _before_bind(self) -> None:
        """What a subclass does to the durable before it is ensured (nothing here)."""
