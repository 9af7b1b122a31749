"""The consumer's loop (bind, fetch, watchdog, batches) and the MAX_DELIVERIES advisory
listener, without a server: the real `Consumer` and `GiveUps` over a fake JetStream context,
pull subscription and core connection (the NATS seam only). No real time passes: the loop is
stopped by the fake subscription, and a watchdog of -1 s checks at every empty fetch."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from contracts import BusSettings, subjects
from contracts.codec import encode
from contracts.errors import PermanentError, TransientError
from contracts.streams import CONSUMERS_BY_NAME
from cr_client.streams import consumer_config
from cr_runtime.advisories import GiveUps
from cr_runtime.consumer import Consumer, Delivery
from libs.runtime.tests.test_consumer_outcomes import FakeMsg
from tests.support.samples import SAMPLES

DURABLE = subjects.DURABLE_SUBMITTER_JOBS
SPEC = CONSUMERS_BY_NAME[DURABLE]

Step = Callable[["Consumer"], list[Any]]
"""One fetch: returns messages or raises (it may stop the consumer first)."""


@dataclass
class FakeSub:
    steps: list[Step]
    consumer: Consumer | None = None
    unsubscribed: int = 0

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        assert self.consumer is not None
        if not self.steps:
            self.consumer.stop()
            raise NatsTimeout
        return self.steps.pop(0)(self.consumer)

    async def unsubscribe(self) -> None:
        self.unsubscribed += 1


@dataclass
class FakeJS:
    sub: FakeSub
    durables: dict[str, Any] = field(default_factory=dict)
    pending: int = 0
    info_errors: list[BaseException] = field(default_factory=list)
    binds: int = 0
    stored: dict[int, Any] = field(default_factory=dict)
    get_error: BaseException | None = None

    async def consumer_info(self, stream: str, durable: str) -> Any:
        if self.info_errors:
            raise self.info_errors.pop(0)
        if durable not in self.durables:
            raise NotFoundError
        return SimpleNamespace(config=self.durables[durable], num_pending=self.pending)

    async def add_consumer(self, stream: str, config: Any) -> None:
        self.durables[config.durable_name] = config

    async def pull_subscribe_bind(self, durable: str, stream: str) -> FakeSub:
        self.binds += 1
        return self.sub

    async def get_msg(self, stream: str, seq: int) -> Any:
        if self.get_error is not None:
            raise self.get_error
        if seq not in self.stored:
            raise NotFoundError
        return self.stored[seq]


@dataclass
class FakeNC:
    subscribed: list[str] = field(default_factory=list)
    subscribe_error: BaseException | None = None
    callbacks: list[Any] = field(default_factory=list)

    async def subscribe(self, subject: str, cb: Any) -> Any:
        if self.subscribe_error is not None:
            raise self.subscribe_error
        self.subscribed.append(subject)
        self.callbacks.append(cb)

        async def unsubscribe() -> None:
            raise RuntimeError("connection closing")

        return SimpleNamespace(unsubscribe=unsubscribe)


@dataclass
class FakeBus:
    js: FakeJS
    nc: FakeNC = field(default_factory=FakeNC)
    settings: BusSettings = field(default_factory=lambda: BusSettings(max_deliver=5))
    dead: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def publish_raw(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        self.dead.append((subject, data, headers))


def msgs(*delivered: int) -> Step:
    return lambda _: [FakeMsg(encode(SAMPLES[0]), num_delivered=n) for n in delivered]


def fails(exc: BaseException) -> Step:
    def step(consumer: Consumer) -> list[Any]:
        consumer.stop()  # so the pause after a failed fetch returns at once
        raise exc

    return step


def setup(steps: Sequence[Step], **kwargs: Any) -> tuple[Consumer, FakeBus]:
    sub = FakeSub(list(steps))
    bus = FakeBus(FakeJS(sub))
    consumer = Consumer(bus, DURABLE, **kwargs)  # type: ignore[arg-type]
    sub.consumer = consumer
    return consumer, bus


def handled(seen: list[Any]) -> Any:
    async def handler(event: Any, delivery: Delivery) -> None:
        seen.append((event, delivery.num_delivered, delivery.stream_seq))

    return handler


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_run_binds_creates_the_durable_handles_and_stops_cleanly() -> None:
    seen: list[Any] = []
    consumer, bus = setup([msgs(1, 2)], handler=handled(seen))
    redelivered = metric("cr_redeliveries_total", durable=DURABLE)
    await consumer.run()
    assert seen == [(SAMPLES[0], 1, 7), (SAMPLES[0], 2, 7)]
    assert consumer.handled == 2 and not consumer.running
    assert DURABLE in bus.js.durables and bus.js.binds == 1
    assert consumer.max_deliver == bus.settings.max_deliver
    assert bus.js.sub.unsubscribed == 1
    assert bus.nc.subscribed == [
        f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{SPEC.stream}.{DURABLE}"
    ]
    assert metric("cr_redeliveries_total", durable=DURABLE) == redelivered + 1


async def test_a_durable_made_with_its_own_limit_keeps_it() -> None:
    consumer, bus = setup([], handler=handled([]))
    config = consumer_config(SPEC, bus.settings)
    config.max_deliver = 9
    bus.js.durables[DURABLE] = config
    await consumer.run()
    assert consumer.max_deliver == 9


@pytest.mark.parametrize("error", [NotFoundError(), OSError("reset"), RuntimeError("bare")])
async def test_a_failed_fetch_unbinds_so_the_next_one_binds_again(error: Exception) -> None:
    consumer, bus = setup([fails(error), msgs(1)], handler=handled([]))
    await consumer._bind()
    assert await consumer._fetch() == []  # stopped by the step: no pause
    assert consumer._sub is None and bus.js.sub.unsubscribed == 1
    assert len(await consumer._fetch()) == 1
    assert bus.js.binds == 2


async def test_a_fetch_that_times_out_keeps_the_subscription() -> None:
    consumer, bus = setup([], handler=handled([]))
    await consumer._bind()
    assert await consumer._fetch() == []
    assert consumer._sub is not None and bus.js.sub.unsubscribed == 0


async def bound(watchdog_s: float, pending: int) -> tuple[Consumer, FakeBus]:
    consumer, bus = setup([], handler=handled([]), watchdog_s=watchdog_s)
    bus.js.pending = pending
    await consumer._bind()
    return consumer, bus


async def test_the_watchdog_rebinds_a_silent_consumer_with_pending_messages() -> None:
    consumer, bus = await bound(-1.0, pending=4)
    rebinds = metric("cr_consumer_resubscribes_total", durable=DURABLE)
    await consumer._watchdog()
    assert metric("cr_consumer_lag", durable=DURABLE) == 4
    assert metric("cr_consumer_resubscribes_total", durable=DURABLE) == rebinds + 1
    assert consumer._sub is None and bus.js.sub.unsubscribed == 1


async def test_the_watchdog_leaves_a_consumer_with_nothing_pending_bound() -> None:
    consumer, _ = await bound(-1.0, pending=0)
    await consumer._watchdog()
    assert consumer._sub is not None
    assert metric("cr_consumer_lag", durable=DURABLE) == 0


@pytest.mark.parametrize(
    ("error", "unbound"), [(NotFoundError(), True), (RuntimeError("x"), False)]
)
async def test_the_watchdog_unbinds_only_when_the_durable_is_gone(
    error: Exception, unbound: bool
) -> None:
    consumer, bus = await bound(-1.0, pending=4)
    bus.js.info_errors.append(error)
    await consumer._watchdog()
    assert (consumer._sub is None) is unbound


async def test_the_watchdog_waits_its_period_between_checks() -> None:
    consumer, bus = await bound(3600.0, pending=4)
    bus.js.info_errors.append(RuntimeError("not asked"))
    await consumer._watchdog()
    assert consumer._sub is not None and len(bus.js.info_errors) == 1  # not probed


async def test_the_watchdog_rebinds_only_after_its_period_of_silence_on_a_fake_clock() -> None:
    now = [100.0]
    consumer, bus = setup([], handler=handled([]), watchdog_s=5.0, clock=lambda: now[0])
    bus.js.pending = 4
    await consumer._bind()
    now[0] += 4.9
    await consumer._watchdog()
    assert consumer._sub is not None  # 4.9 s of silence: not yet
    now[0] += 0.2
    await consumer._watchdog()
    assert consumer._sub is None and bus.js.sub.unsubscribed == 1


def test_exactly_one_handler_kind_is_required() -> None:
    bus = FakeBus(FakeJS(FakeSub([])))
    with pytest.raises(ValueError, match="exactly one"):
        Consumer(bus, DURABLE)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        Consumer(bus, DURABLE, handled([]), batch_handler=handled([]))  # type: ignore[arg-type]
    assert Consumer(bus, DURABLE, handled([]), batch=10**6).batch == SPEC.max_ack_pending  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "answers"),
    [
        (None, ["ack", "ack"]),
        (TransientError("busy", retry_after_s=0), ["nak", "term"]),
        (PermanentError("never"), ["term", "term"]),
        (ValueError("bug"), ["nak", "term"]),  # the second is on its last delivery
    ],
)
async def test_a_batch_is_answered_as_a_whole(
    outcome: BaseException | None, answers: list[str]
) -> None:
    batches: list[int] = []

    async def batch_handler(deliveries: Sequence[Delivery]) -> None:
        batches.append(len(deliveries))
        if outcome is not None:
            raise outcome

    consumer, bus = setup([], batch_handler=batch_handler)
    given = [FakeMsg(encode(SAMPLES[0]), num_delivered=1), FakeMsg(encode(SAMPLES[0]), 5)]
    undecodable = FakeMsg(b"{bad")
    await consumer._process([*given, undecodable])  # type: ignore[list-item]
    assert batches == [2]
    assert [m.answers[0][0] for m in given] == answers
    assert undecodable.answers == [("term", None)]
    assert consumer.handled == (2 if outcome is None else 0)
    if isinstance(outcome, TransientError):
        assert given[0].answers == [("nak", 0.001)]
    await consumer._process([FakeMsg(b"{bad")])  # type: ignore[list-item]
    assert batches == [2]  # nothing decodable: the batch handler is not called


@dataclass
class Recorder:
    calls: list[tuple[str, bytes, int, str]] = field(default_factory=list)

    async def __call__(self, subject: str, data: bytes, seq: int, reason: str) -> None:
        self.calls.append((subject, data, seq, reason))


async def test_an_advisory_dead_letters_the_message_jetstream_gave_up() -> None:
    js, dead = FakeJS(FakeSub([])), Recorder()
    js.stored[12] = SimpleNamespace(subject="job.submitted.j", data=b"payload")
    bus = FakeBus(js)
    give_ups = GiveUps(bus, "EVENTS", DURABLE, dead)  # type: ignore[arg-type]
    await give_ups.start()
    await give_ups.start()  # idempotent
    assert len(bus.nc.subscribed) == 1
    advisory = SimpleNamespace(data=json.dumps({"stream_seq": 12, "deliveries": 20}).encode())
    await bus.nc.callbacks[0](advisory)
    [(subject, data, seq, reason)] = dead.calls
    assert (subject, data, seq) == ("job.submitted.j", b"payload", 12)
    assert reason.startswith("max_deliver: given up by JetStream after 20 deliveries")
    await give_ups.stop()  # the unsubscribe fails: logged only
    await give_ups.stop()


@pytest.mark.parametrize(
    ("data", "get_error"),
    [
        (b"not json", None),
        (b'{"deliveries": 3}', None),
        (b'{"stream_seq": 99}', None),  # no such message any more
        (b'{"stream_seq": 12}', NatsTimeout()),
    ],
)
async def test_an_advisory_that_cannot_be_acted_on_is_logged_not_raised(
    data: bytes, get_error: BaseException | None
) -> None:
    js, dead = FakeJS(FakeSub([]), get_error=get_error), Recorder()
    js.stored[12] = SimpleNamespace(subject="job.submitted.j", data=b"payload")
    give_ups = GiveUps(FakeBus(js), "EVENTS", DURABLE, dead)  # type: ignore[arg-type]
    await give_ups._on_advisory(SimpleNamespace(data=data))
    assert dead.calls == []


async def test_an_advisory_listener_that_cannot_subscribe_is_not_fatal() -> None:
    bus = FakeBus(FakeJS(FakeSub([])), FakeNC(subscribe_error=RuntimeError("closing")))
    give_ups = GiveUps(bus, "EVENTS", DURABLE, Recorder())  # type: ignore[arg-type]
    await give_ups.start()
    await give_ups.stop()
    assert bus.nc.subscribed == []
