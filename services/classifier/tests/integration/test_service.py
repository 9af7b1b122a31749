"""The classifier service on a real nats-server: exactly one verdict per failure, live rules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from classifier.app import run
from classifier.config import Settings
from contracts import codec, subjects
from contracts.envelope import derive_event_id, new_event_id, utcnow
from contracts.failure import FailureClassified
from contracts.job import FailureEvidence, JobFailed
from contracts.settings import BusSettings
from cr_client.bus import Bus

pytestmark = pytest.mark.integration
WAIT_S = 30.0


@contextlib.asynccontextmanager
async def _service(bus_settings: BusSettings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    settings = Settings(nats=bus_settings, log_level="WARNING")
    task = asyncio.create_task(run(settings, stop_event=stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _failed(job_id: str, message: str, event_id: str | None = None) -> JobFailed:
    return JobFailed(
        event_id=event_id or new_event_id(),
        job_id=job_id,
        attempt=1,
        occurred_at=utcnow(),
        source="test/it",
        backend_id="gpu-1",
        prompt_id="p-1",
        evidence=FailureEvidence(
            surface="execution_error", exception_type="Exception", message=message
        ),
    )


async def _classified(bus: Bus, job_id: str) -> list[FailureClassified]:
    """Every failure.classified of `job_id` in the stream (counted by the server, per subject)."""
    subject = subjects.per_job(subjects.FAILURE_CLASSIFIED, job_id)
    info = await bus.js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    if not count:
        return []
    found: list[FailureClassified] = []
    seq = 0
    while len(found) < count:
        msg = await bus.js.get_msg(subjects.EVENTS_STREAM, seq=seq + 1, subject=subject, next=True)
        event = codec.decode(msg.data or b"")
        assert isinstance(event, FailureClassified)
        found.append(event)
        seq = msg.seq or seq + 1
    return found


async def _eventually(check: Callable[[], Awaitable[Any]]) -> Any:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.2)


async def _settled(bus: Bus) -> bool:
    """The classifier's durable exists and has acknowledged everything delivered to it."""
    try:
        info = await bus.js.consumer_info(subjects.EVENTS_STREAM, subjects.DURABLE_CLASSIFIER)
    except NotFoundError:
        return False
    return not info.num_pending and not info.num_ack_pending and bool(info.delivered.stream_seq)


async def test_a_failure_is_classified_exactly_once_even_when_redelivered(
    bus: Bus, bus_settings: BusSettings
) -> None:
    failed = _failed("job-once", "CUDA out of memory. Tried to allocate 2.00 GiB")
    await bus.publish(failed)
    await bus.publish(failed)  # same Nats-Msg-Id: JetStream drops it
    again = {subjects.HDR_MSG_ID: f"{failed.event_id}-resent"}
    await bus.publish_raw(codec.subject_for(failed), codec.encode(failed), again)
    async with _service(bus_settings):
        assert await _eventually(lambda: _classified(bus, "job-once"))
        assert await _eventually(lambda: _settled(bus))
    await bus.js.delete_consumer(subjects.EVENTS_STREAM, subjects.DURABLE_CLASSIFIER)
    async with _service(bus_settings):  # a fresh durable redelivers every job.failed
        assert await _eventually(lambda: _settled(bus))
    verdicts = await _classified(bus, "job-once")
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert verdict.event_id == derive_event_id(failed.event_id, "classified")
    assert verdict.causation_id == failed.event_id
    assert (verdict.failure_class, verdict.attempt, verdict.backend_id) == ("GPU_OOM", 1, "gpu-1")


async def test_a_rule_put_in_the_kv_bucket_applies_without_a_restart(
    bus: Bus, bus_settings: BusSettings
) -> None:
    kv = await bus.kv(subjects.KV_RULES)
    await kv.put("broken", b"[[rules]]\nid = 'x'\nclass = 'NOPE'\nmessage = ['y']\n")
    message = "vendor quota exhausted for this account"
    rule = b"[[rules]]\nid = 'ops.quota'\nclass = '{cls}'\nmessage = ['vendor quota exhausted']\n"
    async with _service(bus_settings):
        first = _failed("job-kv-0", message)
        await bus.publish(first)
        before = await _eventually(lambda: _classified(bus, "job-kv-0"))
        assert before[0].failure_class == "NODE_EXECUTION_ERROR"

        await kv.put("ops", rule.replace(b"{cls}", b"EXTERNAL_SERVICE_ERROR"))
        assert await _classify_until(bus, message, "EXTERNAL_SERVICE_ERROR")
        await kv.put("ops", rule.replace(b"{cls}", b"TIMEOUT"))
        assert await _classify_until(bus, message, "TIMEOUT")
        await kv.delete("ops")
        assert await _classify_until(bus, message, "NODE_EXECUTION_ERROR")


async def _classify_until(bus: Bus, message: str, expected: str) -> bool:
    """Publish fresh failures until one is classified as `expected` (the watch is async)."""

    async def attempt() -> bool:
        job_id = f"job-kv-{new_event_id()}"
        await bus.publish(_failed(job_id, message))
        verdicts = await _eventually(lambda: _classified(bus, job_id))
        return bool(verdicts) and verdicts[0].failure_class == expected

    return bool(await _eventually(attempt))
