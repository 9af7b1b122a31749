"""The projector: one batch of deliveries → one idempotent insert → ack (by the consumer).

While the store is down the batch is nak'd with a growing delay, so nothing is acked that is
not stored. Naks count toward ``max_deliver``, and a message past it would be skipped and
lost; so once a batch has used half its deliveries it is no longer nak'd: the projector holds
it (telling JetStream it is still in progress) and retries until the store returns. The
other half stays in reserve for deliveries after a crash or restart during the outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import structlog
from prometheus_client import Counter, Histogram

from analytics.errors import StoreUnavailableError
from analytics.projection import EventRow, dedup_token, to_row
from analytics.store import Store
from cr_client.nats_errors import TRANSIENT
from cr_runtime.consumer import Delivery

log = structlog.get_logger(__name__)

ROWS_STORED: Final = Counter(
    "cr_analytics_rows_stored_total", "Event rows inserted into the store", ["stream"]
)
STORE_OUTAGES: Final = Counter(
    "cr_analytics_store_unavailable_total", "Inserts refused because the store was down"
)
INSERT_SECONDS: Final = Histogram("cr_analytics_insert_seconds", "Time to insert one batch")


@dataclass(frozen=True)
class RetryPolicy:
    """Delays while the store is down: nak delays grow per delivery, up to `max_s`.

    Attributes:
        initial_s: the first delay.
        max_s: the longest delay.
        max_deliver: the consumer's delivery limit (0 or less: unlimited).
        hold_s: the longest pause while holding a batch; under the consumer's ack_wait, so
            the +WPI sent before each pause keeps the batch from being redelivered.
    """

    initial_s: float = 1.0
    max_s: float = 30.0
    max_deliver: int = 20
    hold_s: float = 10.0

    def delay(self, deliveries: int) -> float:
        """The delay before delivery number `deliveries` + 1."""
        return min(self.initial_s * 2.0 ** max(deliveries - 1, 0), self.max_s)

    def must_hold(self, deliveries: int) -> bool:
        """Whether the batch has used half its deliveries (and must not be nak'd again)."""
        return self.max_deliver > 0 and deliveries * 2 >= self.max_deliver


class AckPosition(NamedTuple):
    """Where a JetStream message stands, as its ack subject says."""

    stream: str
    num_delivered: int
    stream_seq: int


def ack_position(reply: str) -> AckPosition:
    """The stream, delivery count and stream sequence in an ack subject.

    nats-py's ``msg.metadata`` reads the same subject into a dataclass with a datetime,
    about 13 µs a message, as much as building its row; this reads only what is used.
    The subject is ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>…`` (9 tokens),
    or the same after ``<domain>.<account hash>`` (12 tokens, or 11).
    """
    tokens = reply.split(".")
    at = 2 if len(tokens) == 9 else 4
    return AckPosition(tokens[at], int(tokens[at + 2]), int(tokens[at + 3]))


def rows_of(deliveries: Sequence[Delivery]) -> tuple[list[EventRow], int]:
    """The rows of a batch, one per delivered event, and the most deliveries among them."""
    positions = [ack_position(d.msg.reply) for d in deliveries]
    rows = [
        to_row(d.event, p.stream, p.stream_seq) for d, p in zip(deliveries, positions, strict=True)
    ]
    return rows, max(p.num_delivered for p in positions)


class Projector:
    """The batch handler both analytics consumers share.

    Args:
        store: the analytics store.
        policy: how long to wait while the store is down.
    """

    def __init__(self, store: Store, policy: RetryPolicy) -> None:
        self.store = store
        self.policy = policy

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        """Store the batch; return only once every row is stored.

        Raises:
            StoreUnavailableError: the store is down; the consumer naks the batch with
                ``retry_after_s`` and JetStream delivers it again.
        """
        rows, deliveries_so_far = rows_of(deliveries)
        # Idempotency guard: rows are keyed by event_id (ReplacingMergeTree read with
        # FINAL) and the insert carries a token of the batch's event ids, so a redelivered
        # or replayed event never counts twice, whatever batch it arrives in.
        token = dedup_token(rows)
        try:
            await self._insert(rows, token)
        except StoreUnavailableError as exc:
            STORE_OUTAGES.inc()
            if not self.policy.must_hold(deliveries_so_far):
                raise StoreUnavailableError(
                    str(exc), retry_after_s=self.policy.delay(deliveries_so_far)
                ) from exc
            await self._hold_until_stored(rows, token, deliveries)
        stream = rows[0].stream
        ROWS_STORED.labels(stream).inc(len(rows))

    async def _insert(self, rows: list[EventRow], token: str) -> None:
        started = time.perf_counter()
        await self.store.insert(rows, token)
        INSERT_SECONDS.observe(time.perf_counter() - started)

    async def _hold_until_stored(
        self, rows: list[EventRow], token: str, deliveries: Sequence[Delivery]
    ) -> None:
        """Retry with backoff, keeping the batch ours, until the store takes it."""
        attempt = 1
        while True:
            await _still_working(deliveries)
            await asyncio.sleep(min(self.policy.delay(attempt), self.policy.hold_s))
            try:
                await self._insert(rows, token)
                return
            except StoreUnavailableError as exc:
                STORE_OUTAGES.inc()
                log.warning("projector.holding_batch", rows=len(rows), error=str(exc)[:200])
                attempt += 1


async def _still_working(deliveries: Sequence[Delivery]) -> None:
    """+WPI on every message: resets ack_wait without counting a delivery."""
    for delivery in deliveries:
        try:
            await delivery.msg.in_progress()
        except TRANSIENT as exc:
            log.warning("projector.in_progress_lost", error=repr(exc))
            return
