"""Nothing given up is dropped silently: a message that exhausts max_deliver is dead-lettered
(counted), on the single and the batch path; a bug in a batch handler naks with backoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import msgspec
import pytest
from nats.errors import TimeoutError as NatsTimeout

from contracts import BusSettings, FailureEvidence, JobFailed, TransientError, utcnow
from contracts import subjects as subj
from contracts.codec import AnyEvent
from contracts.errors import EventTooLargeError
from cr_client import Bus
from cr_runtime import Consumer, metrics
from cr_runtime.advisories import GiveUps
from cr_runtime.consumer import Delivery
from tests.support.cleanup import purge_everything

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus2(bus: Bus, bus_settings: BusSettings) -> AsyncIterator[Bus]:
    """A bus whose durables give a message up after two deliveries (clean streams)."""
    await purge_everything(bus)
    settings = bus_settings.model_copy(update={"max_deliver": 2})
    connected = await Bus.connect(settings)
    yield connected
    await connected.close()


def failed(job_id: str) -> JobFailed:
    return JobFailed(
        event_id=f"{job_id}-failed",
        job_id=job_id,
        occurred_at=utcnow(),
        source="test",
        evidence=FailureEvidence(surface="client", message="boom"),
    )


async def dead_letters(bus: Bus, count: int) -> list[object]:
    sub = await bus.js.pull_subscribe(subj.deadletter(">"), stream=subj.DEADLETTER_STREAM)
    msgs = await sub.fetch(count, timeout=10)
    await sub.unsubscribe()
    return msgs


async def run_until(consumer: Consumer, done: asyncio.Event) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        consumer.stop()
        await task


def given_up(durable: str) -> float:
    return metrics.DEADLETTERED.labels(durable, "max_deliver")._value.get()  # type: ignore[attr-defined]


async def test_a_message_retried_past_max_deliver_is_dead_lettered(bus2: Bus) -> None:
    calls: list[int] = []
    done = asyncio.Event()
    before = given_up(subj.DURABLE_CLASSIFIER)

    async def never(event: AnyEvent, delivery: Delivery) -> None:
        calls.append(delivery.num_delivered)
        if len(calls) == 2:
            asyncio.get_running_loop().call_later(0.3, done.set)
        raise TransientError("backend never comes", retry_after_s=0.05)

    consumer = Consumer(bus2, subj.DURABLE_CLASSIFIER, never, fetch_timeout_s=0.2)
    await bus2.publish(failed("doomed"))
    await run_until(consumer, done)
    [msg] = await dead_letters(bus2, 1)
    assert msg.headers[subj.HDR_DLQ_REASON].startswith("max_deliver: given up after 2")  # type: ignore[attr-defined]
    assert msg.headers[subj.HDR_DLQ_CONSUMER] == subj.DURABLE_CLASSIFIER  # type: ignore[attr-defined]
    assert calls == [1, 2]
    assert given_up(subj.DURABLE_CLASSIFIER) == before + 1


async def test_a_bug_in_a_batch_handler_naks_with_backoff_then_dead_letters(bus2: Bus) -> None:
    calls: list[list[int]] = []
    done = asyncio.Event()

    async def buggy(batch: Sequence[Delivery]) -> None:
        calls.append([d.num_delivered for d in batch])
        if len(calls) == 2:
            asyncio.get_running_loop().call_later(0.3, done.set)
        raise ZeroDivisionError("a bug")

    consumer = Consumer(bus2, subj.DURABLE_CLASSIFIER, batch_handler=buggy, fetch_timeout_s=0.2)
    await bus2.publish(failed("batched"))
    await run_until(consumer, done)
    assert calls == [[1], [2]]  # redelivered after the nak, not crash-looped
    [msg] = await dead_letters(bus2, 1)
    assert "ZeroDivisionError" in msg.headers[subj.HDR_DLQ_REASON]  # type: ignore[attr-defined]


async def test_a_last_delivery_never_answered_is_dead_lettered_from_the_advisory(
    bus: Bus, bus_settings: BusSettings
) -> None:
    """A handler that hangs (or a process that dies) never naks: JetStream gives the
    message up by itself and says so in an advisory, which becomes the dead letter."""
    await purge_everything(bus)
    settings = bus_settings.model_copy(update={"max_deliver": 2, "ack_wait_s": 1})
    hung = await Bus.connect(settings)
    try:
        consumer = Consumer(hung, subj.DURABLE_CLASSIFIER, lambda e, d: asyncio.sleep(0))
        give_ups = GiveUps(
            hung, subj.EVENTS_STREAM, subj.DURABLE_CLASSIFIER, consumer.dead_letter_raw
        )
        await give_ups.start()
        await hung.publish(failed("hung"))
        raw = await hung.js.pull_subscribe_bind(
            durable=subj.DURABLE_CLASSIFIER, stream=subj.EVENTS_STREAM
        )
        info = await hung.js.stream_info(subj.DEADLETTER_STREAM)
        for _ in range(30):  # pull (never ack) until the server gives the message up
            with contextlib.suppress(TimeoutError, NatsTimeout):
                await raw.fetch(1, timeout=0.5)
            info = await hung.js.stream_info(subj.DEADLETTER_STREAM)
            if info.state.messages:
                break
        await give_ups.stop()
        await raw.unsubscribe()
        [msg] = await dead_letters(hung, 1)
        assert "given up by JetStream after 2 deliveries" in msg.headers[subj.HDR_DLQ_REASON]  # type: ignore[attr-defined]
        assert msg.subject == subj.deadletter(subj.per_job(subj.JOB_FAILED, "hung"))  # type: ignore[attr-defined]
    finally:
        await hung.close()


async def test_an_event_over_max_payload_is_a_permanent_error_naming_the_limit(bus: Bus) -> None:
    """Publishing it can never succeed: a consumer dead-letters its cause at once instead of
    retrying it max_deliver times as a bug."""
    huge = FailureEvidence(surface="client", message="x" * (bus.nc.max_payload + 1))
    event = failed("too-big")
    with pytest.raises(EventTooLargeError, match=str(bus.nc.max_payload)):
        await bus.publish(msgspec.structs.replace(event, evidence=huge))
