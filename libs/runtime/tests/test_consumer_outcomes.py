"""The consumer's outcome table (module docstring of `cr_runtime.consumer`) without a server:
the real `Consumer` maps each handler outcome to ack, nak with delay, or dead letter + term,
on faked JetStream messages and a bus that records dead letters (the seams only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from contracts import BusSettings, subjects
from contracts.codec import AnyEvent, encode
from contracts.errors import BusUnavailableError, PermanentError, TransientError
from cr_runtime.consumer import Consumer, Delivery
from tests.support.samples import SAMPLES

DURABLE = subjects.DURABLE_SUBMITTER_JOBS


@dataclass
class FakeMsg:
    """A JetStream message: its bytes and metadata, and what was answered."""

    data: bytes
    num_delivered: int = 1
    seq: int = 7
    subject: str = "job.submitted.job-1"
    answers: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(
            num_delivered=self.num_delivered, sequence=SimpleNamespace(stream=self.seq)
        )

    async def ack(self) -> None:
        self.answers.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.answers.append(("nak", delay))

    async def term(self) -> None:
        self.answers.append(("term", None))


@dataclass
class FakeBus:
    """What a consumer uses of the bus outside fetching: settings and raw publishes."""

    settings: BusSettings = field(default_factory=lambda: BusSettings(max_deliver=5))
    dead: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    down: bool = False

    async def publish_raw(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        if self.down:
            raise BusUnavailableError("nats down")
        self.dead.append((subject, headers))


def msg(delivered: int = 1, data: bytes | None = None) -> FakeMsg:
    return FakeMsg(encode(SAMPLES[0]) if data is None else data, num_delivered=delivered)


def consumer(bus: FakeBus, outcome: BaseException | None, seen: list[AnyEvent]) -> Consumer:
    async def handler(event: AnyEvent, delivery: Delivery) -> None:
        seen.append(event)
        if outcome is not None:
            raise outcome

    return Consumer(bus, DURABLE, handler)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [
        (None, ("ack", None)),
        (TransientError("busy", retry_after_s=3.0), ("nak", 3.0)),
        (ValueError("a bug"), ("nak", 4.0)),  # backoff: 2 ** deliveries
        (PermanentError("never"), ("term", None)),
    ],
)
async def test_each_handler_outcome_gets_its_answer(
    outcome: BaseException | None, answer: tuple[str, float | None]
) -> None:
    bus, seen = FakeBus(), []
    c = consumer(bus, outcome, seen)
    m = msg(delivered=2)
    await c._process([m])  # type: ignore[list-item]
    assert seen == [SAMPLES[0]]
    assert m.answers == [answer]
    assert c.handled == (1 if outcome is None else 0)
    if isinstance(outcome, PermanentError):
        [(subject, headers)] = bus.dead
        assert subject == subjects.deadletter(m.subject)
        assert headers[subjects.HDR_DLQ_REASON] == "never"
        assert headers[subjects.HDR_MSG_ID] == f"{DURABLE}:7"


async def test_undecodable_bytes_are_dead_lettered_without_calling_the_handler() -> None:
    bus, seen = FakeBus(), []
    m = msg(data=b"{not json")
    await consumer(bus, None, seen)._process([m])  # type: ignore[list-item]
    assert seen == [] and m.answers == [("term", None)]
    assert len(bus.dead) == 1


@pytest.mark.parametrize("outcome", [TransientError("busy"), ValueError("a bug")])
async def test_a_retry_on_the_last_delivery_is_dead_lettered_not_dropped(
    outcome: BaseException,
) -> None:
    bus = FakeBus()
    m = msg(delivered=5)  # max_deliver 5
    await consumer(bus, outcome, [])._process([m])  # type: ignore[list-item]
    assert m.answers == [("term", None)]
    [(_, headers)] = bus.dead
    assert headers[subjects.HDR_DLQ_REASON].startswith("max_deliver: given up after 5")


async def test_a_dead_letter_that_cannot_be_stored_is_naked_not_termed() -> None:
    bus = FakeBus(down=True)
    m = msg()
    await consumer(bus, PermanentError("never"), [])._process([m])  # type: ignore[list-item]
    assert m.answers == [("nak", 5.0)]


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [(None, ("ack", None)), (TransientError("store down", retry_after_s=2.0), ("nak", 2.0))],
)
async def test_a_batch_is_answered_as_a_whole(
    outcome: BaseException | None, answer: tuple[str, float | None]
) -> None:
    seen: list[int] = []

    async def batch_handler(deliveries: Any) -> None:
        seen.append(len(deliveries))
        if outcome is not None:
            raise outcome

    c = Consumer(FakeBus(), DURABLE, batch_handler=batch_handler)  # type: ignore[arg-type]
    msgs = [msg(), msg(), msg(data=b"\xff")]
    await c._process(msgs)  # type: ignore[arg-type]
    assert seen == [2]  # the undecodable one was dead-lettered, not handed over
    assert [m.answers for m in msgs[:2]] == [[answer], [answer]]
    assert msgs[2].answers == [("term", None)]


def test_exactly_one_handler_kind_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Consumer(FakeBus(), DURABLE)  # type: ignore[arg-type]
