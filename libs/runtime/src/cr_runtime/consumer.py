"""Durable pull consumers: decode, handle, map the outcome to ack/nak/term, watch liveness.

Outcome mapping (one place for every service):

| outcome                      | what happens                                          |
|------------------------------|-------------------------------------------------------|
| handler returned             | ack                                                   |
| `TransientError`             | nak with ``retry_after_s`` delay                      |
| undecodable bytes            | dead-letter subject with the reason, count it, term   |
| `PermanentError`             | dead-letter subject with the reason, count it, term   |
| anything else (a bug)        | logged, nak with backoff; ``max_deliver`` caps it     |
| either retry on the last     | dead-letter (reason ``max_deliver: …``), count, term: |
| delivery ``max_deliver``     | nothing given up is dropped silently                  |
| last delivery never answered | JetStream's MAX_DELIVERIES advisory → dead letter     |

The batch path maps a whole batch the same way.

The watchdog exists because nats-py pull consumers do not always resume after a server
restart (nats-io/nats.py#504): when the consumer has pending messages and nothing arrives
for a while, the subscription is bound again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Final

import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NotFoundError

from contracts import codec, subjects
from contracts.errors import BusUnavailableError, PermanentError, TransientError
from contracts.streams import CONSUMERS_BY_NAME, ConsumerSpec
from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT
from cr_client.streams import ensure_consumer
from cr_runtime import metrics
from cr_runtime.advisories import GiveUps
from cr_runtime.delivery import BatchHandler, Delivery, Handler, backoff, settle

__all__ = ["BatchHandler", "Consumer", "Delivery", "Handler"]

log = structlog.get_logger(__name__)
_FETCH_FAILED: Final[tuple[type[BaseException], ...]] = (*TRANSIENT, NotFoundError, OSError)
"""Fetch errors after which the subscription is bound again (the stream may be back)."""


class Consumer:
    """Runs one durable consumer until `stop()`.

    Args:
        bus: the connection.
        durable: a name from `contracts.subjects` (its spec comes from `streams`).
        handler: called once per decoded event (unless `batch_handler` is given).
        batch_handler: called with up to `batch` decoded events; all acked on return.
        batch: messages fetched per pull.
        fetch_timeout_s: seconds a pull waits for messages.
        watchdog_s: silence, with messages pending, after which the subscription is rebound.
        clock: monotonic seconds (the watchdog's time; injected by tests).
    """

    def __init__(
        self,
        bus: Bus,
        durable: str,
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        batch: int = 64,
        fetch_timeout_s: float = 1.0,
        watchdog_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self.bus = bus
        self.spec: ConsumerSpec = CONSUMERS_BY_NAME[durable]
        self.handler = handler
        self.batch_handler = batch_handler
        # a pull larger than the durable's max_ack_pending would wait out its whole timeout
        self.batch = max(1, min(batch, self.spec.max_ack_pending))
        self.fetch_timeout_s = fetch_timeout_s
        self.watchdog_s = watchdog_s
        self._stopping = asyncio.Event()
        self._sub: Any = None
        self.clock = clock
        self._last_message = clock()
        self._last_check = clock()
        self.running = False
        self.handled = 0
        self._seconds = metrics.HANDLER_SECONDS.labels(durable)
        self._redelivered = metrics.REDELIVERIES.labels(durable)
        self._consumed: dict[str, Any] = {}
        self.max_deliver = -1 if self.spec.unlimited_deliveries else bus.settings.max_deliver
        """The durable's own limit (read back when bound: an older durable keeps its own)."""

    def stop(self) -> None:
        """Ask the loop to finish after the current batch."""
        self._stopping.set()

    async def run(self) -> None:
        """Fetch, handle and acknowledge until stopped."""
        self.running = True
        give_ups = GiveUps(self.bus, self.spec.stream, self.spec.durable, self.dead_letter_raw)
        try:
            await give_ups.start()
            while not self._stopping.is_set():
                msgs = await self._fetch()
                if msgs:
                    self._last_message = self.clock()
                    await self._process(msgs)
                else:
                    await self._watchdog()
        finally:
            self.running = False
            await give_ups.stop()
            await self._unbind()

    async def _bind(self) -> Any:
        if self._sub is None:
            await ensure_consumer(self.bus.js, self.spec, self.bus.settings)
            info = await self.bus.js.consumer_info(self.spec.stream, self.spec.durable)
            self.max_deliver = int(info.config.max_deliver or -1)
            self._sub = await self.bus.js.pull_subscribe_bind(
                durable=self.spec.durable, stream=self.spec.stream
            )
        return self._sub

    async def _unbind(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(*TRANSIENT, ValueError):
                await sub.unsubscribe()

    async def _fetch(self) -> list[Msg]:
        try:
            sub = await self._bind()
            msgs: list[Msg] = await sub.fetch(self.batch, timeout=self.fetch_timeout_s)
            return msgs
        except (TimeoutError, NatsTimeout):
            return []
        except _FETCH_FAILED as exc:
            log.warning("consumer.fetch_failed", durable=self.spec.durable, error=repr(exc))
            await self._unbind()
            await self._sleep(0.5)
            return []
        except Exception as exc:  # noqa: BLE001 - the client raises bare errors on reconnect
            log.warning("consumer.fetch_error", durable=self.spec.durable, error=repr(exc))
            await self._unbind()
            await self._sleep(0.5)
            return []

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _watchdog(self) -> None:
        """Rebind when messages are pending but none arrived for `watchdog_s`."""
        now = self.clock()
        if now - self._last_check < self.watchdog_s:
            return
        self._last_check = now
        try:
            info = await self.bus.js.consumer_info(self.spec.stream, self.spec.durable)
        except NotFoundError:
            await self._unbind()
            return
        except Exception as exc:  # noqa: BLE001 - any failure here only delays the check
            log.warning("consumer.watchdog_probe_failed", error=repr(exc))
            return
        pending = int(info.num_pending or 0)
        metrics.CONSUMER_LAG.labels(self.spec.durable).set(pending)
        if pending and now - self._last_message > self.watchdog_s:
            log.warning("consumer.rebind", durable=self.spec.durable, pending=pending)
            metrics.CONSUMER_RESUBSCRIBES.labels(self.spec.durable).inc()
            await self._unbind()

    async def _process(self, msgs: list[Msg]) -> None:
        deliveries: list[Delivery] = []
        for msg in msgs:
            delivery = await self._decode(msg)
            if delivery is not None:
                deliveries.append(delivery)
        if self.batch_handler is not None:
            if deliveries:
                await self._run_batch(deliveries)
            return
        for delivery in deliveries:
            await self._run_one(delivery)

    async def _decode(self, msg: Msg) -> Delivery | None:
        if msg.metadata.num_delivered > 1:
            self._redelivered.inc()
        try:
            return Delivery(codec.decode(msg.data), msg)
        except PermanentError as exc:
            await self.dead_letter(msg, str(exc))
            return None

    async def _run_one(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        durable = self.spec.durable
        assert self.handler is not None
        try:
            await self.handler(delivery.event, delivery)
        except TransientError as exc:
            log.info("consumer.retry_later", durable=durable, reason=str(exc))
            metrics.HANDLER_ERRORS.labels(durable, "transient").inc()
            await self._retry_later(delivery, max(exc.retry_after_s, 0.001), str(exc))
            return
        except PermanentError as exc:
            await self.dead_letter(delivery.msg, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug: logged, redelivered, capped by max_deliver
            log.exception("consumer.handler_bug", durable=durable, error=repr(exc))
            metrics.HANDLER_ERRORS.labels(durable, "bug").inc()
            await self._retry_later(delivery, backoff(delivery), repr(exc))
            return
        await settle(delivery.msg.ack())
        self.handled += 1
        self._count(delivery.msg.subject)
        self._seconds.observe(time.perf_counter() - started)

    def _count(self, subject: str) -> None:
        family = metrics.family_of(subject)
        counter = self._consumed.get(family)
        if counter is None:
            counter = self._consumed[family] = metrics.EVENTS_CONSUMED.labels(
                self.spec.durable, family
            )
        counter.inc()

    async def _run_batch(self, deliveries: list[Delivery]) -> None:
        durable = self.spec.durable
        assert self.batch_handler is not None
        try:
            await self.batch_handler(deliveries)
        except TransientError as exc:
            log.warning("consumer.batch_retry_later", durable=durable, reason=str(exc))
            metrics.HANDLER_ERRORS.labels(durable, "transient").inc()
            for d in deliveries:
                await self._retry_later(d, max(exc.retry_after_s, 0.001), str(exc))
            return
        except PermanentError as exc:
            for d in deliveries:
                await self.dead_letter(d.msg, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug: logged, redelivered with backoff
            log.exception("consumer.batch_handler_bug", durable=durable, error=repr(exc))
            metrics.HANDLER_ERRORS.labels(durable, "bug").inc()
            for d in deliveries:
                await self._retry_later(d, backoff(d), repr(exc))
            return
        for d in deliveries:
            await settle(d.msg.ack())
            self._count(d.msg.subject)
        self.handled += len(deliveries)

    async def _retry_later(self, delivery: Delivery, delay: float, reason: str) -> None:
        """Nak with `delay`; on the durable's last delivery, dead-letter instead (JetStream
        would otherwise drop the message without a trace)."""
        if 0 < self.max_deliver <= delivery.num_delivered:
            await self.dead_letter(
                delivery.msg,
                f"max_deliver: given up after {delivery.num_delivered} deliveries: {reason}",
            )
            return
        await settle(delivery.msg.nak(delay=delay))

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        """Publish `msg` to the dead-letter subject with `reason`, count it, and term it."""
        try:
            await self.dead_letter_raw(msg.subject, msg.data, msg.metadata.sequence.stream, reason)
        except BusUnavailableError:
            await settle(msg.nak(delay=5.0))
            return
        await settle(msg.term())

    async def dead_letter_raw(self, subject: str, data: bytes, seq: int, reason: str) -> None:
        """Publish a message (by its subject, bytes and stream sequence) as a dead letter
        and count it; its id derives from (durable, sequence), so twice is stored once.

        Raises:
            BusUnavailableError: the dead letter could not be stored.
        """
        headers = {
            subjects.HDR_DLQ_REASON: reason[:1000],
            subjects.HDR_DLQ_SUBJECT: subject,
            subjects.HDR_DLQ_CONSUMER: self.spec.durable,
            subjects.HDR_MSG_ID: f"{self.spec.durable}:{seq}",
        }
        log.warning("consumer.dead_letter", durable=self.spec.durable, reason=reason[:200])
        await self.bus.publish_raw(subjects.deadletter(subject), data, headers)
        metrics.DEADLETTERED.labels(self.spec.durable, reason.split(":", 1)[0][:40]).inc()
