"""The projector's consumer: the next batch is fetched, decoded and laid out as rows while
the store inserts the previous one, so the event loop and chDB's engine (which releases the
GIL) work at the same time instead of taking turns.

Acks are the shared consumer's batch mapping, unchanged: each batch runs as its own task
(rows → insert → ack every message; an insert failure naks the whole batch), so a message
is acked only after the insert that holds it returned. At most `IN_FLIGHT` batches are being
stored at once, each at most ``max_ack_pending / IN_FLIGHT`` messages, so the durable's
limit is never what stops a fetch. The store's single thread takes their inserts in order.
"""

from __future__ import annotations

import asyncio
from typing import Final

from nats.aio.msg import Msg

from analytics.projector import ack_position
from contracts import codec
from contracts.errors import PermanentError
from cr_client.bus import Bus
from cr_runtime.bulk import BulkConsumer
from cr_runtime.consumer import BatchHandler, Delivery

IN_FLIGHT: Final = 2
"""Batches being stored at once: one inserting, one laid out behind it."""


class PipelinedConsumer(BulkConsumer):
    """`BulkConsumer` whose batch handler runs as a task, up to `IN_FLIGHT` at a time."""

    def __init__(
        self,
        bus: Bus,
        durable: str,
        handler: BatchHandler,
        *,
        batch: int,
        fetch_timeout_s: float,
    ) -> None:
        super().__init__(
            bus, durable, batch_handler=handler, batch=batch, fetch_timeout_s=fetch_timeout_s
        )
        self.batch = max(1, min(self.batch, self.spec.max_ack_pending // IN_FLIGHT))
        self._storing: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Fetch and store until stopped, then wait for the batches still being stored
        (their acks go out on the connection, which the service closes after this)."""
        try:
            await super().run()
        finally:
            await self._drain()

    async def _drain(self) -> None:
        """Wait until every batch started has been stored and answered."""
        await asyncio.gather(*self._storing)
        self._storing.clear()

    async def _decode(self, msg: Msg) -> Delivery | None:
        """The shared decode, reading the delivery count with `ack_position` (nats-py's
        metadata parse cost as much as the decode); an undecodable message takes the
        shared path, which dead-letters it."""
        try:
            event = codec.decode(msg.data)
        except PermanentError:
            return await super()._decode(msg)
        if ack_position(msg.reply).num_delivered > 1:
            self._redelivered.inc()
        return Delivery(event, msg)

    async def _run_batch(self, deliveries: list[Delivery]) -> None:
        """Start storing `deliveries` once fewer than `IN_FLIGHT` batches are in progress."""
        self._storing = [task for task in self._storing if not task.done()]
        while len(self._storing) >= IN_FLIGHT:
            await self._storing.pop(0)
        self._storing.append(asyncio.create_task(super()._run_batch(deliveries)))
