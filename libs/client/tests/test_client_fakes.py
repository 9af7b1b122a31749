"""The real `Bus`, `JobReader` and `JobClient` over in-memory JetStream and KV fakes (the NATS
seam only): publish retries and refusals, reading a job back, submit/cancel/retry/control."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import msgspec
import pytest
from nats.errors import MaxPayloadError
from nats.errors import TimeoutError as NatsTimeout

from contracts import BusSettings, JobStatus, JobView, codec, subjects
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.errors import (
    BusUnavailableError,
    EventTooLargeError,
    JobNotEligibleError,
    JobNotFoundError,
    SubmitRefusedError,
)
from contracts.job import JobCancelRequested, JobRetryRequested, JobSubmitted
from contracts.readmodel import encode_view
from contracts.recovery import RecoveryDecided
from cr_client.bus import Bus
from cr_client.client import JobClient
from cr_client.reader import terminal_status
from libs.client.tests.jsfakes import FakeNC
from tests.support.samples import SAMPLES, WORKFLOW

SUBMITTED, _DISPATCHED, PROGRESS, COMPLETED = SAMPLES[:4]
RETRY = next(e for e in SAMPLES if isinstance(e, JobRetryRequested))
ABORTED = next(e for e in SAMPLES if isinstance(e, RecoveryDecided) and e.terminal)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff sleeps are recorded, not slept (the retry loops call ``asyncio.sleep``)."""
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return slept


def make_bus(retries: int = 3) -> tuple[Bus, FakeNC]:
    nc = FakeNC()
    return Bus(nc, BusSettings(publish_retries=retries)), nc  # type: ignore[arg-type]


def client_with(*events: Any) -> tuple[JobClient, FakeNC]:
    bus, nc = make_bus()
    for event in events:
        nc.js.stored.append((codec.subject_for(event), codec.encode(event), {}))
    return JobClient(bus, source="t"), nc


async def test_publish_sets_subject_and_dedup_id_and_retries_a_missing_ack(
    no_sleep: list[float],
) -> None:
    bus, nc = make_bus(retries=3)
    nc.js.failures = [NatsTimeout(), NatsTimeout()]
    ack = await bus.publish(SUBMITTED, timeout=1.5)
    assert ack.seq == 1
    [(subject, data, headers)] = nc.js.stored
    assert subject == codec.subject_for(SUBMITTED)
    assert codec.decode(data) == SUBMITTED
    assert headers == {subjects.HDR_MSG_ID: SUBMITTED.event_id}
    assert nc.js.waits == [1.5, 1.5, 1.5]
    assert len(no_sleep) == 2


async def test_publish_gives_up_after_its_retries_with_the_subject() -> None:
    bus, nc = make_bus(retries=2)
    nc.js.failures = [NatsTimeout(), NatsTimeout()]
    with pytest.raises(BusUnavailableError, match="job.submitted"):
        await bus.publish(SUBMITTED)
    assert nc.js.stored == [] and nc.js.waits == [5.0, 5.0]


async def test_oversized_messages_are_refused_before_and_by_the_server() -> None:
    bus, nc = make_bus()
    nc.max_payload = 10
    with pytest.raises(EventTooLargeError):
        await bus.publish_raw("x.y.z", b"x" * 11, {})
    assert nc.js.waits == []  # refused before sending
    nc.max_payload = 100
    nc.js.failures = [MaxPayloadError()]
    with pytest.raises(EventTooLargeError):
        await bus.publish_raw("x.y.z", b"x" * 11, {})
    assert nc.js.stored == []


async def test_kv_buckets_are_looked_up_once() -> None:
    bus, nc = make_bus()
    assert await bus.kv("a") is await bus.kv("a")
    assert list(nc.js.buckets) == ["a"]


async def test_close_drains_and_falls_back_to_close_when_draining_fails() -> None:
    bus, nc = make_bus()
    await bus.close()
    await bus.close()  # already closed: nothing more
    assert nc.calls == ["drain"]
    bus, nc = make_bus()
    nc.drain_error = NatsTimeout()
    await bus.close()
    assert nc.calls == ["drain", "close"]


async def test_history_and_result_of_a_completed_job() -> None:
    client, _ = client_with(SUBMITTED, PROGRESS, COMPLETED)
    assert await client.history("job-1") == [SUBMITTED, PROGRESS, COMPLETED]
    result = await client.result("job-1", timeout=5)
    assert result.status is JobStatus.COMPLETED
    assert result.outputs == {"9": ["x_00001_.png"]}
    assert result.events == [SUBMITTED, PROGRESS, COMPLETED]


async def test_result_of_an_aborted_job_carries_the_reason() -> None:
    client, _ = client_with(SUBMITTED, ABORTED)
    result = await client.result("job-1")
    assert (result.status, result.reason, result.user_message) == (JobStatus.ABORTED, "r", "m")
    assert result.attempts == 1


async def test_follow_goes_on_past_an_abort_when_a_retry_came_after_it() -> None:
    retried = msgspec.structs.replace(COMPLETED, event_id="evt-after-retry")
    client, _ = client_with(SUBMITTED, ABORTED, RETRY, retried)
    seen = [e async for e in client.follow("job-1")]
    assert seen == [SUBMITTED, ABORTED, RETRY, retried]


async def test_follow_stops_at_the_end_when_only_late_reports_follow() -> None:
    client, _ = client_with(SUBMITTED, COMPLETED, PROGRESS)
    assert [e async for e in client.follow("job-1")] == [SUBMITTED, COMPLETED]


async def test_undecodable_stored_bytes_are_skipped() -> None:
    client, nc = client_with(SUBMITTED)
    nc.js.stored.append(("job.progress.job-1", b"{not json", {}))
    nc.js.stored.append((codec.subject_for(COMPLETED), codec.encode(COMPLETED), {}))
    assert await client.history("job-1") == [SUBMITTED, COMPLETED]


async def test_a_live_follow_polls_through_a_gap_and_a_restarting_server(
    no_sleep: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, nc = client_with(SUBMITTED)
    polls: list[float] = []

    async def sleep(delay: float) -> None:  # the completion is stored while we wait
        polls.append(delay)
        if len(polls) == 1:
            nc.js.get_failures.append(NatsTimeout())
        else:
            nc.js.stored.append((codec.subject_for(COMPLETED), codec.encode(COMPLETED), {}))

    monkeypatch.setattr(asyncio, "sleep", sleep)
    assert [e async for e in client.follow("job-1")] == [SUBMITTED, COMPLETED]
    assert len(polls) == 2 and polls[0] <= polls[1]


async def test_history_and_status_refuse_unknown_and_invalid_ids() -> None:
    client, nc = client_with(SUBMITTED)
    for job_id in ("nope", "bad id", "a.b"):
        with pytest.raises(JobNotFoundError):
            await client.history(job_id)
        with pytest.raises(JobNotFoundError):
            await client.status(job_id)
    (await nc.js.key_value(subjects.KV_JOBS)).values["gone"] = None
    with pytest.raises(JobNotFoundError):
        await client.status("gone")


async def test_status_reads_the_read_model() -> None:
    client, nc = client_with()
    view = JobView(job_id="job-1", status=JobStatus.RUNNING, attempt=2)
    (await nc.js.key_value(subjects.KV_JOBS)).values["job-1"] = encode_view(view)
    assert await client.status("job-1") == view


def test_terminal_status_of_each_kind_of_event() -> None:
    assert terminal_status(COMPLETED) is JobStatus.COMPLETED
    assert terminal_status(ABORTED) is JobStatus.ABORTED
    assert terminal_status(PROGRESS) is None
    [cancelled] = [msgspec.structs.replace(a, cancelled=True) for a in ABORTED.actions]
    assert terminal_status(msgspec.structs.replace(ABORTED, actions=[cancelled])) is (
        JobStatus.CANCELLED
    )
    not_abort = msgspec.structs.replace(ABORTED, actions=[])
    assert terminal_status(not_abort) is None
    ongoing = next(e for e in SAMPLES if isinstance(e, RecoveryDecided) and not e.terminal)
    assert terminal_status(ongoing) is None


async def test_submit_publishes_once_per_job_id_and_refuses_other_content() -> None:
    client, nc = client_with()
    workflow = copy.deepcopy(WORKFLOW)
    job = await client.submit(workflow, {"5.width": 640}, job_id="job-7")
    assert job == "job-7"
    assert await client.submit(workflow, {"5.width": 640}, job_id="job-7") == "job-7"
    assert len(nc.js.stored) == 1
    stored = codec.decode(nc.js.stored[0][1])
    assert isinstance(stored, JobSubmitted) and stored.params == {"5.width": 640}
    with pytest.raises(SubmitRefusedError, match="job-7"):
        await client.submit(workflow, {"5.width": 768}, job_id="job-7")
    with pytest.raises(ValueError, match="letters"):
        await client.submit(workflow, job_id="not a valid id")
    fresh = await client.submit(workflow)
    assert fresh != "job-7" and len(nc.js.stored) == 2


async def test_cancel_and_retry_publish_only_when_the_status_allows_it() -> None:
    client, nc = client_with(SUBMITTED)
    await client.cancel("job-1", reason="owner")  # no read model yet: SUBMITTED
    cancel = codec.decode(nc.js.stored[-1][1])
    assert isinstance(cancel, JobCancelRequested) and cancel.reason == "owner"
    with pytest.raises(JobNotEligibleError):
        await client.retry("job-1")
    kv = await nc.js.key_value(subjects.KV_JOBS)
    kv.values["job-1"] = encode_view(JobView(job_id="job-1", status=JobStatus.ABORTED))
    await client.retry("job-1")
    assert isinstance(codec.decode(nc.js.stored[-1][1]), JobRetryRequested)
    with pytest.raises(JobNotEligibleError):
        await client.cancel("job-1")
    with pytest.raises(JobNotFoundError):
        await client.cancel("other-job")
    assert len(nc.js.stored) == 3


async def test_emergency_stop_and_resume_and_the_context_manager() -> None:
    client, nc = client_with()
    async with client:
        await client.emergency_stop("maintenance")
        await client.resume()
    stop, resumed = (codec.decode(data) for _, data, _ in nc.js.stored)
    assert isinstance(stop, EmergencyStopRequested) and stop.reason == "maintenance"
    assert isinstance(resumed, DispatchResumed)
    assert nc.calls == ["drain"]
    assert client.submission_limit < nc.max_payload
