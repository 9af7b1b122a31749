"""The classifier's consumer handles a fetched batch concurrently, each message on its own:
the real `ConcurrentConsumer` and `FailureHandler` over fake messages and a bus whose
publishes the test answers one by one (the bus seam only)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.js.api import PubAck

from classifier.handlers import FailureHandler
from classifier.rules import default_rules
from contracts import subjects
from contracts.codec import AnyEvent, encode
from contracts.errors import BusUnavailableError
from contracts.failure import FailureClassified
from contracts.job import FailureEvidence, JobFailed
from cr_runtime.bulk import ConcurrentConsumer
from libs.runtime.tests.test_consumer_outcomes import FakeBus, FakeMsg

DURABLE = subjects.DURABLE_CLASSIFIER
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class GatedBus(FakeBus):
    """Each `publish` waits until the test answers it (an ack, or an error to raise)."""

    pending: dict[str, asyncio.Future[PubAck]] = field(default_factory=dict)
    published: list[FailureClassified] = field(default_factory=list)
    out: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def publish(self, event: AnyEvent) -> PubAck:
        assert isinstance(event, FailureClassified)
        self.published.append(event)
        self.pending[event.job_id] = asyncio.get_running_loop().create_future()
        async with self.out:
            self.out.notify_all()
        return await self.pending[event.job_id]

    def answer(self, job_id: str, error: BaseException | None = None) -> None:
        future = self.pending.pop(job_id)
        if error is None:
            future.set_result(PubAck(stream=subjects.EVENTS_STREAM, seq=1))
        else:
            future.set_exception(error)


@dataclass
class LoggedMsg(FakeMsg):
    """A message whose answers also go, in order, to a log shared by the batch."""

    log: list[tuple[str, str]] = field(default_factory=list)

    async def ack(self) -> None:
        self.log.append((self.subject, "ack"))
        await super().ack()

    async def nak(self, delay: float | None = None) -> None:
        self.log.append((self.subject, "nak"))
        await super().nak(delay)


def failed(job_id: str) -> JobFailed:
    evidence = FailureEvidence(surface="execution_error", exception_type="torch.OutOfMemoryError")
    return JobFailed(
        event_id=f"{job_id}-f",
        job_id=job_id,
        attempt=1,
        occurred_at=NOW,
        source="monitor/t",
        backend_id="gpu-a",
        prompt_id="p-1",
        evidence=evidence,
    )


def batch(log: list[tuple[str, str]], *jobs: str) -> list[LoggedMsg]:
    return [
        LoggedMsg(encode(failed(job)), seq=i, subject=f"job.failed.{job}", log=log)
        for i, job in enumerate(jobs, 1)
    ]


def consumer(bus: GatedBus, concurrency: int = 8) -> ConcurrentConsumer:
    handler = FailureHandler(bus, lambda: default_rules(), "classifier/t")  # type: ignore[arg-type]
    return ConcurrentConsumer(bus, DURABLE, handler, batch=concurrency)  # type: ignore[arg-type]


async def in_flight(bus: GatedBus, count: int) -> None:
    """Wait until `count` publishes wait for their answers."""
    async with bus.out:
        await bus.out.wait_for(lambda: len(bus.pending) >= count)


async def test_a_batch_is_published_at_once_and_each_message_acked_after_its_own_publish() -> None:
    bus, log = GatedBus(), []
    msgs = batch(log, "j1", "j2", "j3")
    processing = asyncio.create_task(consumer(bus)._process(msgs))  # type: ignore[arg-type]
    await in_flight(bus, 3)  # all three publishes are out before any is answered
    assert log == []
    for job in ("j3", "j1", "j2"):
        bus.answer(job)
        await asyncio.sleep(0)
    await processing
    assert log == [("job.failed.j3", "ack"), ("job.failed.j1", "ack"), ("job.failed.j2", "ack")]
    assert [e.causation_id for e in bus.published] == ["j1-f", "j2-f", "j3-f"]


async def test_a_failed_publish_naks_only_its_own_message() -> None:
    bus, log = GatedBus(), []
    msgs = batch(log, "j1", "j2", "j3")
    processing = asyncio.create_task(consumer(bus)._process(msgs))  # type: ignore[arg-type]
    await in_flight(bus, 3)
    bus.answer("j2", BusUnavailableError("no ack", retry_after_s=2.0))
    bus.answer("j1")
    bus.answer("j3")
    await processing
    assert [m.answers for m in msgs] == [[("ack", None)], [("nak", 2.0)], [("ack", None)]]


async def test_a_poison_message_is_dead_lettered_and_the_rest_are_classified() -> None:
    bus, log = GatedBus(), []
    msgs = batch(log, "j1", "j2")
    poison = FakeMsg(b"{not json", seq=9, subject="job.failed.bad")
    processing = asyncio.create_task(
        consumer(bus)._process([msgs[0], poison, msgs[1]])  # type: ignore[list-item]
    )
    await in_flight(bus, 2)
    bus.answer("j1")
    bus.answer("j2")
    await processing
    assert poison.answers == [("term", None)]
    [(subject, headers)] = bus.dead
    assert subject == subjects.deadletter("job.failed.bad")
    assert headers[subjects.HDR_MSG_ID] == f"{DURABLE}:9"
    assert [m.answers for m in msgs] == [[("ack", None)], [("ack", None)]]
    assert [e.job_id for e in bus.published] == ["j1", "j2"]


def test_the_concurrency_is_bounded_by_the_durables_max_ack_pending() -> None:
    assert consumer(GatedBus(), concurrency=64).batch == 64
    assert consumer(GatedBus(), concurrency=50_000).batch == 1000
