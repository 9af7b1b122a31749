"""Keyed concurrency on recovery's events durable: one lane per job, lanes side by side.

With ``CR_RECOVERY_LANES`` = N > 1 the durable allows N unacked messages and a fetch brings
up to N. A batch is split by job id: each job's events run one after the other, in stream
order, and different jobs' events run concurrently, so their round-trips (the read model's
KV write, the decision's publish, both fsynced) overlap instead of queueing.

Order per job holds inside one instance only (ADR 0003, step 0): run a single recovery
instance when N > 1, until subject partitions give every instance its own jobs.

- Events of other instances (stream sequences missing from the batch) are folded before
  any lane starts, in stream order, as the serial path folds them before each event.
- An event that fails and is nak'd holds its job: the lane's later events in the batch,
  and the job's events in later batches, are nak'd too (after the same delay) until the
  held one comes back and is handled (or is dead-lettered), so a job never skips ahead.
- Each backend's breaker is changed by one lane at a time (`SerialBreakers`): concurrent
  failures on one backend would otherwise race its compare-and-set.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Final

import structlog
from nats.aio.msg import Msg

from contracts.errors import PermanentError
from cr_client.bus import Bus
from cr_client.streams import consumer_config
from cr_runtime.bulk import BulkConsumer
from cr_runtime.consumer import Delivery
from cr_runtime.delivery import settle
from recovery.adapters.backends import BackendRegistry
from recovery.breaker import Breaker
from recovery.handlers import Handlers

log = structlog.get_logger(__name__)

HOLD_DELAY_S: Final = 0.05
"""Added to a held event's nak delay, so it comes back after the event it waits for."""


class LaneConsumer(BulkConsumer):
    """Recovery's events consumer with one lane per job (see the module's docstring).

    Args:
        bus: the connection.
        durable: the events durable's name.
        handlers: recovery's handlers (their projection is caught up here, per batch).
        lanes: the most events in flight at once (the durable's ``max_ack_pending``).
    """

    fill_batches = False  # a fetch returns with the first events: a trickle is not held

    def __init__(self, bus: Bus, durable: str, handlers: Handlers, lanes: int) -> None:
        super().__init__(bus, durable, self._handle, batch=lanes)
        self.handlers = handlers
        self.spec = dataclasses.replace(self.spec, max_ack_pending=lanes)
        self.batch = lanes
        self._held: dict[str, tuple[int, float]] = {}
        """Job → (stream sequence of its nak'd event, that nak's delay)."""
        self._raised: dict[int, BaseException] = {}

    async def _before_bind(self) -> None:
        await self._set_max_ack_pending()

    async def _set_max_ack_pending(self) -> None:
        """Give an existing durable this instance's lane count (created with it otherwise)."""
        js, spec = self.bus.js, self.spec
        try:
            info = await js.consumer_info(spec.stream, spec.durable)
        except Exception:  # noqa: BLE001 - missing: `ensure_consumer` creates it with the spec
            return
        if info.config.max_ack_pending != spec.max_ack_pending:
            config = consumer_config(spec, self.bus.settings)
            config.max_deliver = info.config.max_deliver
            await js.add_consumer(spec.stream, config)
            log.info("lanes.max_ack_pending", durable=spec.durable, lanes=spec.max_ack_pending)

    async def _handle(self, event: Any, delivery: Delivery) -> None:
        try:
            await self.handlers.on_event(event)
        except BaseException as exc:
            self._raised[delivery.stream_seq] = exc
            raise

    async def _process(self, msgs: list[Msg]) -> None:
        deliveries = [d for d in [await self._decode(m) for m in msgs] if d is not None]
        seqs = [int(m.metadata.sequence.stream) for m in msgs]
        if not seqs:
            return
        await self._catch_up(set(seqs), max(seqs))
        by_job: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_job[delivery.event.job_id].append(delivery)
        await asyncio.gather(*(self._lane(job, ds) for job, ds in by_job.items()))
        projection = self.handlers.deps.projection
        projection.seq = max(projection.seq, max(seqs))

    async def _catch_up(self, ours: set[int], last: int) -> None:
        """Fold, in order, the events up to `last` that another instance is handling."""
        for seq in range(self.handlers.deps.projection.seq + 1, last + 1):
            if seq not in ours:
                await self.handlers.fold_stored(seq)

    async def _lane(self, job: str, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            held = self._held.get(job)
            if held is not None and delivery.stream_seq > held[0]:
                await settle(delivery.msg.nak(delay=held[1] + HOLD_DELAY_S))
                continue
            await self._run_one(delivery)
            raised = self._raised.pop(delivery.stream_seq, None)
            if raised is None or self._given_up(delivery, raised):
                if held is not None and held[0] == delivery.stream_seq:
                    del self._held[job]
                continue
            self._held[job] = (delivery.stream_seq, self._delay_of(raised))

    def _given_up(self, delivery: Delivery, raised: BaseException) -> bool:
        """Whether the consumer dead-lettered the event instead of nak'ing it."""
        last = 0 < self.max_deliver <= delivery.num_delivered
        return isinstance(raised, PermanentError) or last

    @staticmethod
    def _delay_of(raised: BaseException) -> float:
        return float(getattr(raised, "retry_after_s", 1.0) or 1.0)


class SerialBreakers:
    """One breaker change at a time per backend inside this instance (lanes run together)."""

    def __init__(self, registry: BackendRegistry) -> None:
        self._update = registry.update_breaker
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        registry.update_breaker = self.update_breaker  # type: ignore[method-assign]

    async def update_breaker(
        self, backend_id: str, change: Callable[[Breaker], Breaker]
    ) -> tuple[Breaker, Breaker]:
        """The registry's compare-and-set change, after this instance's previous one."""
        async with self._locks[backend_id]:
            return await self._update(backend_id, change)
