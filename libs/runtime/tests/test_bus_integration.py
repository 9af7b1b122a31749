"""The bus against a real nats-server: dedup, ack mapping, dead letters, restarts."""

from __future__ import annotations

import asyncio

import pytest

from contracts import FailureEvidence, JobFailed, TransientError, derive_event_id, utcnow
from contracts import subjects as subj
from contracts.codec import AnyEvent
from cr_client import Bus
from cr_runtime import Consumer
from cr_runtime.consumer import Delivery

pytestmark = pytest.mark.integration


def failed(job_id: str, event_id: str = "") -> JobFailed:
    return JobFailed(
        event_id=event_id or derive_event_id(job_id, "failed"),
        job_id=job_id,
        occurred_at=utcnow(),
        source="test",
        evidence=FailureEvidence(surface="client", message="boom"),
    )


async def stream_count(bus: Bus, stream: str, subject: str | None = None) -> int:
    info = await bus.js.stream_info(stream, subjects_filter=subject)
    if subject is None:
        return int(info.state.messages)
    return sum((info.state.subjects or {}).values())


async def test_publishing_the_same_event_twice_stores_it_once(bus: Bus) -> None:
    event = failed("job-1")
    first = await bus.publish(event)
    second = await bus.publish(event)
    assert not first.duplicate and second.duplicate
    assert await stream_count(bus, subj.EVENTS_STREAM) == 1


async def test_streams_use_file_storage_with_dedup_window(bus: Bus) -> None:
    info = await bus.js.stream_info(subj.EVENTS_STREAM)
    assert str(getattr(info.config.storage, "value", info.config.storage)) == "file"
    assert info.config.duplicate_window == pytest.approx(bus.settings.duplicate_window_s)


async def test_undecodable_bytes_go_to_dead_letter_and_consumer_goes_on(bus: Bus) -> None:
    seen: list[AnyEvent] = []

    async def handle(event: AnyEvent, delivery: Delivery) -> None:
        seen.append(event)

    consumer = Consumer(bus, subj.DURABLE_CLASSIFIER, handle, fetch_timeout_s=0.2)
    task = asyncio.create_task(consumer.run())
    await bus.publish_raw(subj.per_job(subj.JOB_FAILED, "bad"), b"\xff not json", {})
    await bus.publish(failed("good"))
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.05)
    consumer.stop()
    await task
    assert [e.job_id for e in seen] == ["good"]
    sub = await bus.js.pull_subscribe(subj.deadletter(">"), stream=subj.DEADLETTER_STREAM)
    [msg] = await sub.fetch(1, timeout=2)
    assert msg.subject == subj.deadletter(subj.per_job(subj.JOB_FAILED, "bad"))
    assert "not JSON" in msg.headers[subj.HDR_DLQ_REASON]
    assert msg.data == b"\xff not json"


async def test_transient_error_redelivers_after_delay(bus: Bus) -> None:
    calls: list[int] = []

    async def flaky(event: AnyEvent, delivery: Delivery) -> None:
        calls.append(delivery.num_delivered)
        if len(calls) == 1:
            raise TransientError("later", retry_after_s=0.2)

    consumer = Consumer(bus, subj.DURABLE_CLASSIFIER, flaky, fetch_timeout_s=0.2)
    task = asyncio.create_task(consumer.run())
    await bus.publish(failed("flaky"))
    for _ in range(100):
        if len(calls) >= 2:
            break
        await asyncio.sleep(0.05)
    consumer.stop()
    await task
    assert calls == [1, 2]
    info = await bus.js.consumer_info(subj.EVENTS_STREAM, subj.DURABLE_CLASSIFIER)
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_result_returns_when_a_late_event_follows_the_end(bus: Bus) -> None:
    from contracts import JobCompleted, JobProgressed, JobStatus
    from cr_client import JobClient

    common = {"job_id": "late", "attempt": 1, "occurred_at": utcnow(), "source": "test"}
    await bus.publish(JobCompleted(event_id="late-c", backend_id="b0", prompt_ids=[], **common))
    await bus.publish(JobProgressed(event_id="late-p", backend_id="b0", prompt_id="p", **common))
    result = await JobClient(bus).result("late", timeout=10)
    assert result.status == JobStatus.COMPLETED  # before: waited forever for a later end
