"""The submitter's KV and stream adapters over in-memory seams: claims, the job log and the
backend registry, including what a NATS outage turns into."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.kv import KeyValue

from contracts import codec, subjects
from contracts.backend import BackendHealth, BackendInventory
from contracts.backends import BackendRef
from contracts.envelope import utcnow
from contracts.errors import BusUnavailableError
from contracts.job import FailureEvidence, JobDispatched, JobFailed, JobSubmitted
from services.submitter.tests.unit.seam_fakes import FakeBus, MemKV
from submitter.adapters.claims import Claim, ClaimRecord, Claims
from submitter.adapters.job_log import JobLog
from submitter.adapters.registry import Registry, apply_entry
from submitter.selection import BackendView


def env(event_id: str, attempt: int = 0) -> dict[str, object]:
    return {
        "event_id": event_id,
        "job_id": "job-1",
        "attempt": attempt,
        "occurred_at": utcnow(),
        "source": "t",
    }


async def test_a_claim_is_taken_once_and_its_holder_found_by_the_next() -> None:
    bus = FakeBus()
    mine, theirs = Claims(bus, "a", 30.0), Claims(bus, "b", 30.0)  # type: ignore[arg-type]
    assert await mine.take("k", "b0", "job-1", 1, 100.0) is None
    standing = await theirs.take("k", "b1", "job-1", 1, 110.0)
    assert standing is not None and standing.record.holder == "a"
    assert standing.record.backend_id == "b0"
    assert not theirs.may_take_over(standing, 120.0)
    assert theirs.may_take_over(standing, 131.0)  # older than stale_after_s
    assert mine.may_take_over(standing, 101.0)  # our own leftover
    assert await theirs.take_over("k", standing, 131.0)
    kv = bus.buckets[subjects.KV_PROMPTS]
    record = msgspec.json.decode((await kv.get("k")).value, type=ClaimRecord)
    assert (record.holder, record.backend_id, record.at) == ("b", "b0", 131.0)
    assert not await mine.take_over("k", standing, 140.0)  # changed since: refused
    await theirs.release("k")
    assert not kv.live("k")


async def test_a_claim_released_between_create_and_get_is_taken_on_the_retry() -> None:
    class Racy(MemKV):
        raced = False

        async def get(self, key: str) -> KeyValue.Entry:
            if not self.raced:
                self.raced = True
                await self.delete(key)
            return await super().get(key)

    bus = FakeBus()
    bus.buckets[subjects.KV_PROMPTS] = kv = Racy()
    await kv.create("k", b"{}")
    assert await Claims(bus, "a", 30.0).take("k", "b0", "j", 1, 1.0) is None  # type: ignore[arg-type]
    assert kv.raced and kv.live("k")


@pytest.mark.parametrize("call", ["take", "take_over", "release"])
async def test_a_nats_timeout_on_a_claim_is_bus_unavailable(call: str) -> None:
    bus = FakeBus()
    claims = Claims(bus, "a", 30.0)  # type: ignore[arg-type]
    (await bus.kv(subjects.KV_PROMPTS)).fail_with = NatsTimeoutError()
    record = ClaimRecord(holder="x", backend_id="b0", job_id="j", attempt=1, at=0.0)
    calls = {
        "take": lambda: claims.take("k", "b0", "j", 1, 1.0),
        "take_over": lambda: claims.take_over("k", Claim(record, 1), 1.0),
        "release": lambda: claims.release("k"),
    }
    with pytest.raises(BusUnavailableError, match="k"):
        await calls[call]()


async def test_the_job_log_reads_the_newest_events_and_tolerates_garbage() -> None:
    bus = FakeBus()
    log = JobLog(bus)  # type: ignore[arg-type]
    assert await log.submitted("job-1") is None
    assert not await log.attempt_done("job-1", 1)
    sub = JobSubmitted(**env("s"), workflow={})
    bus.seed(sub)
    assert await log.submitted("job-1") == sub
    bus.seed(JobDispatched(**env("d", attempt=2), backend_id="b0", prompts=[], client_id="c"))
    assert await log.attempt_done("job-1", 2) and await log.attempt_done("job-1", 1)
    assert not await log.attempt_done("job-1", 3)
    bus.js.by_subject[subjects.per_job(subjects.JOB_SUBMITTED, "job-1")] = b"not json"
    assert await log.submitted("job-1") is None
    bus.js.by_subject[subjects.per_job(subjects.JOB_SUBMITTED, "job-1")] = codec.encode(
        JobFailed(**env("f"), evidence=FailureEvidence(surface="client"))
    )
    assert await log.submitted("job-1") is None  # another type under that subject


async def test_a_nats_timeout_reading_the_job_log_is_bus_unavailable() -> None:
    bus = FakeBus()
    bus.js.fail_with = NatsTimeoutError()
    with pytest.raises(BusUnavailableError, match="job.submitted of job-1"):
        await JobLog(bus).submitted("job-1")  # type: ignore[arg-type]


def test_registry_entries_update_the_view() -> None:
    view = BackendView("b0")
    health = BackendHealth(
        **env("h"),
        backend_id="b0",
        reachable=False,
        queue_running=1,
        queue_pending=2,
        vram_free=5,
        comfyui_version="0.3.3",
        device_type="cuda",
    )
    apply_entry(view, "health", codec.encode(health), now=50.0)
    assert (view.reachable, view.queue, view.queue_seen_at, view.vram_free) == (False, 3, 50.0, 5)
    assert (view.version, view.device_type) == ("0.3.3", "cuda")
    inventory = BackendInventory(
        **env("i"), backend_id="b0", node_classes=["KSampler"], models={"ckpt": ["a.safetensors"]}
    )
    apply_entry(view, "inventory", codec.encode(inventory), now=51.0)
    assert view.node_classes == {"KSampler"} and view.models == {"a.safetensors"}
    assert view.version == "0.3.3"  # kept when the entry does not say
    plain = {"state": "open", "open_until": 99, "reason": "failure rate"}
    apply_entry(view, "breaker", msgspec.json.encode(plain))
    assert (view.breaker, view.open_until, view.breaker_reason) == ("open", 99.0, "failure rate")
    apply_entry(view, "breaker", msgspec.json.encode({"state": "closed", "open_until": "?"}))
    assert (view.breaker, view.open_until, view.breaker_reason) == ("closed", None, "")
    apply_entry(view, "health", msgspec.json.encode({"state": "open"}))  # not a breaker key
    apply_entry(view, "breaker", b"\xff garbage")
    assert view.breaker == "closed"


async def test_the_registry_loads_the_bucket_then_follows_its_changes() -> None:
    bus = FakeBus()
    registry = Registry([BackendRef("b0", "http://b0"), BackendRef("b1", "http://b1")])
    await registry.start(bus)  # type: ignore[arg-type]  # an empty bucket: no keys
    assert registry.views["b0"].breaker == "closed"
    kv = await bus.kv(subjects.KV_BACKENDS)
    await kv.put("b0.breaker", msgspec.json.encode({"state": "open", "open_until": 5}))
    await kv.put("unknown.breaker", msgspec.json.encode({"state": "open"}))
    await registry.start(bus)  # type: ignore[arg-type]
    assert registry.views["b0"].breaker == "open" and registry.views["b1"].breaker == "closed"

    closed = KeyValue.Entry("b", "b0.breaker", b'{"state":"closed"}', 9, 0, 0, None)
    emptied = KeyValue.Entry("b", "b1.breaker", b"", 10, 0, 0, None)
    kv.watch_items = [None, closed, emptied]
    task = asyncio.create_task(registry.watch())
    for _ in range(20):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert registry.views["b0"].breaker == "closed" and registry.views["b1"].breaker == "closed"


def dispatched_by(source: str, backend_id: str) -> bytes:
    return codec.encode(
        JobDispatched(
            event_id=f"e-{source}-{backend_id}",
            job_id="j",
            attempt=1,
            occurred_at=utcnow(),
            source=source,
            backend_id=backend_id,
            prompts=[],
            client_id="c",
        )
    )


class SubscribingNC:
    def __init__(self) -> None:
        self.subscribed: list[tuple[str, object]] = []
        self.unsubscribed = 0

    async def subscribe(self, subject: str, cb: object) -> object:
        self.subscribed.append((subject, cb))
        nc = self

        class Sub:
            async def unsubscribe(self) -> None:
                nc.unsubscribed += 1

        return Sub()


async def test_another_instances_dispatches_count_in_a_backends_load() -> None:
    # Two submitters each counted only their own dispatches since the last queue reading,
    # so both sent their bursts to the backend that looked idle.
    registry = Registry([BackendRef("b0", "http://b0"), BackendRef("b1", "http://b1")])
    registry.views["b0"].saw_queue(2, now=100.0)
    registry.others_dispatched(dispatched_by("submitter/h-2", "b0"), "submitter/h-1", 101.0)
    registry.others_dispatched(dispatched_by("submitter/h-1", "b0"), "submitter/h-1", 101.0)
    registry.others_dispatched(dispatched_by("submitter/h-2", "elsewhere"), "submitter/h-1", 101.0)
    registry.others_dispatched(b"\xff not an event", "submitter/h-1", 101.0)
    assert registry.views["b0"].load(102.0) == 3  # the queue seen, plus the other's one
    assert registry.views["b1"].load(102.0) == 0

    nc = SubscribingNC()
    bus = type("B", (), {"nc": nc})()
    task = asyncio.create_task(registry.follow_others(bus, "submitter/h-1"))  # type: ignore[arg-type]
    for _ in range(5):
        await asyncio.sleep(0)
    [(subject, cb)] = nc.subscribed
    assert subject == "job.dispatched.>"
    await cb(type("M", (), {"data": dispatched_by("submitter/h-2", "b1")})())  # type: ignore[operator]
    assert registry.views["b1"].load(time.time() + 1) == 1  # counted at wall-clock time
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert nc.unsubscribed == 1
