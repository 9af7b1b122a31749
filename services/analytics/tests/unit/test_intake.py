"""The pipelined consumer without a server: the next batch starts while the previous one is
being stored, at most `IN_FLIGHT` at once, and a message is acked only after the batch
holding it was stored (faked JetStream messages and bus, the real consumer)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from nats.aio.msg import Msg

from analytics.intake import IN_FLIGHT, PipelinedConsumer
from analytics.projector import ack_position
from contracts import BusSettings, subjects
from contracts.codec import encode
from cr_runtime.consumer import Delivery
from tests.support.samples import SAMPLES

DURABLE = subjects.DURABLE_ANALYTICS_EVENTS


@dataclass
class FakeMsg:
    """A JetStream message: bytes, ack subject, and what it was answered."""

    data: bytes
    seq: int
    delivered: int = 1
    subject: str = "job.submitted.job-1"
    answers: list[str] = field(default_factory=list)

    @property
    def reply(self) -> str:
        return f"$JS.ACK.EVENTS.{DURABLE}.{self.delivered}.{self.seq}.{self.seq}.0.0"

    @property
    def metadata(self) -> Msg.Metadata:
        """nats-py's parse of the ack subject (the shared dead-letter path reads it)."""
        return Msg.Metadata._from_reply(self.reply)

    async def ack(self) -> None:
        self.answers.append("ack")

    async def term(self) -> None:
        self.answers.append("term")


@dataclass
class FakeBus:
    """What the consumer uses of the bus besides fetching: settings, dead letters."""

    settings: BusSettings = field(default_factory=BusSettings)
    dead: list[str] = field(default_factory=list)

    async def publish_raw(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        self.dead.append(subject)


@dataclass
class SlowStore:
    """A batch handler whose batches finish only when the test releases them, in order."""

    started: list[list[int]] = field(default_factory=list)
    release: list[asyncio.Event] = field(default_factory=list)

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        done = asyncio.Event()
        self.started.append([ack_position(d.msg.reply).stream_seq for d in deliveries])
        self.release.append(done)
        await done.wait()


def batch(first: int, size: int = 2, delivered: int = 1) -> list[FakeMsg]:
    return [FakeMsg(encode(SAMPLES[0]), seq, delivered) for seq in range(first, first + size)]


def pipelined(bus: FakeBus, store: SlowStore) -> PipelinedConsumer:
    return PipelinedConsumer(
        bus,  # type: ignore[arg-type]
        DURABLE,
        store.handle,
        batch=10_000_000,
        fetch_timeout_s=1.0,
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_next_batch_starts_while_the_previous_is_stored_and_acks_wait_for_it() -> None:
    store = SlowStore()
    consumer = pipelined(FakeBus(), store)
    first, second, third = batch(1), batch(3), batch(5)
    await consumer._process(first)  # type: ignore[arg-type]
    await consumer._process(second)  # type: ignore[arg-type]
    await settle()
    assert store.started == [[1, 2], [3, 4]]  # two in flight
    assert [m.answers for m in first + second] == [[]] * 4  # nothing stored, nothing acked
    third_fetched = asyncio.create_task(consumer._process(third))  # type: ignore[arg-type]
    await settle()
    assert not third_fetched.done() and len(store.started) == IN_FLIGHT
    store.release[0].set()
    await third_fetched
    await settle()
    assert [m.answers for m in first] == [["ack"], ["ack"]]
    assert [m.answers for m in second + third] == [[]] * 4
    assert store.started[-1] == [5, 6]


async def test_a_batch_larger_than_half_the_ack_pending_limit_is_cut_to_half() -> None:
    consumer = pipelined(FakeBus(), SlowStore())
    assert consumer.batch == consumer.spec.max_ack_pending // IN_FLIGHT


async def test_an_undecodable_message_is_dead_lettered_and_the_rest_are_stored() -> None:
    bus, store = FakeBus(), SlowStore()
    consumer = pipelined(bus, store)
    bad, [good] = FakeMsg(b"not json", 9), batch(10, 1, delivered=2)
    await consumer._process([bad, good])  # type: ignore[list-item]
    await settle()
    assert bad.answers == ["term"] and len(bus.dead) == 1
    assert store.started == [[10]] and good.answers == []
    store.release[0].set()
    await consumer._drain()  # what `run` does once stopped
    assert good.answers == ["ack"]
