"""Replay of the whole events stream at start, before the durable consumer runs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import structlog
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from contracts import codec, subjects
from contracts.codec import AnyEvent
from contracts.errors import UndecodableEventError
from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT
from cr_client.pull import BatchPull

log = structlog.get_logger(__name__)


async def last_seq(bus: Bus) -> int:
    """The events stream's last sequence now."""
    info = await bus.js.stream_info(subjects.EVENTS_STREAM)
    return int(info.state.last_seq)


async def read(bus: Bus, seq: int) -> AnyEvent | None:
    """The event at stream sequence `seq` (None when it was deleted or cannot be decoded)."""
    try:
        msg = await bus.js.get_msg(subjects.EVENTS_STREAM, seq, direct=True)
    except NotFoundError:
        return None
    try:
        return codec.decode(msg.data or b"")
    except UndecodableEventError as exc:
        log.warning("read.undecodable", seq=seq, error=str(exc))
        return None


async def replay(
    bus: Bus, fold: Callable[[AnyEvent], None], after: int = 0, batch: int = 5000
) -> tuple[int, int]:
    """Feed every event now in the stream after sequence `after` to `fold`, oldest first;
    (how many were fed, the last sequence read).

    An ephemeral, unacknowledged consumer from the first message reads until nothing is
    pending; later events reach the durable consumer (which redelivers anything not yet
    acknowledged, and folding an event twice is a no-op). Batches come through
    `BatchPull` (nats-py's fetch spends ~100 µs a message), and only a batch's last
    message has its metadata parsed.
    """
    config = js_api.ConsumerConfig(
        ack_policy=js_api.AckPolicy.NONE,
        deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE
        if after
        else js_api.DeliverPolicy.ALL,
        opt_start_seq=after + 1 if after else None,
        inactive_threshold=60.0,
        mem_storage=True,
        num_replicas=1,
    )
    info = await bus.js.add_consumer(subjects.EVENTS_STREAM, config)
    fed, last = 0, after
    pull = BatchPull(bus.nc, subjects.EVENTS_STREAM, info.name)
    try:
        if not info.num_pending:
            return fed, last
        await pull.open()
        while True:
            try:
                msgs = await pull.fetch(batch, timeout=2.0)
            except NatsTimeout:
                return fed, last
            for msg in msgs:
                fed += _feed(msg.data, fold)
            tail = msgs[-1].metadata
            last = tail.sequence.stream
            if not tail.num_pending:
                return fed, last
    finally:
        await pull.unsubscribe()
        with contextlib.suppress(*TRANSIENT, NotFoundError):
            await bus.js.delete_consumer(subjects.EVENTS_STREAM, info.name)


def _feed(data: bytes, fold: Callable[[AnyEvent], None]) -> int:
    try:
        event = codec.decode(data)
    except UndecodableEventError as exc:
        log.warning("replay.undecodable", error=str(exc))
        return 0
    fold(event)
    return 1
