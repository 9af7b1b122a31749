"""The dispatcher end to end over faked seams (KV, stream, ComfyUI over MockTransport):
what it posts, what it publishes, and when it refuses to go on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import msgspec
import pytest

from contracts import subjects
from contracts.backends import BackendRef
from contracts.envelope import prompt_id_for, utcnow
from contracts.errors import TransientError
from contracts.job import InputAsset, InterruptSent, JobDispatched, JobFailed, JobSubmitted
from contracts.policy import RecoveryPolicy
from services.submitter.tests.unit.seam_fakes import Comfy, FakeBus
from submitter.adapters.claims import ClaimRecord, Claims
from submitter.adapters.registry import Registry
from submitter.attempt import Attempt
from submitter.dispatcher import Dispatcher, limits_of
from submitter.selection import Constraints

NOW = 1_000_000.0
WORKFLOW = {"1": {"class_type": "KSampler", "inputs": {"seed": 1}}}


def make(
    comfies: dict[str, Comfy], *, bus: FakeBus | None = None, max_queue: int = 0
) -> tuple[Dispatcher, FakeBus]:
    bus = bus or FakeBus()
    registry = Registry([BackendRef(b, f"http://{b}:8188") for b in comfies])
    clients = {b: c.client(b) for b, c in comfies.items()}
    claims = Claims(bus, "me", stale_after_s=60.0)  # type: ignore[arg-type]
    dispatcher = Dispatcher(
        bus,  # type: ignore[arg-type]
        registry,
        clients,
        claims,
        source="submitter/test",
        no_backend_retry_s=5.0,
        default_stall_window_s=90.0,
        clock=lambda: NOW,
        max_queue=max_queue,
    )
    return dispatcher, bus


def attempt(n: int = 1, **kw: object) -> Attempt:
    return Attempt(job_id="job-1", attempt=n, cause_id="cause-1", workflows=[WORKFLOW], **kw)  # type: ignore[arg-type]


def submitted(**kw: object) -> JobSubmitted:
    return JobSubmitted(
        event_id="sub-1",
        job_id="job-1",
        attempt=0,
        occurred_at=utcnow(),
        source="test",
        workflow=WORKFLOW,
        expected_outputs=["9"],
        **kw,  # type: ignore[arg-type]
    )


async def test_a_dispatch_posts_once_publishes_dispatched_and_releases_its_claim() -> None:
    comfy = Comfy()
    dispatcher, bus = make({"b0": comfy})
    sub = submitted(policy=RecoveryPolicy(deadline_s=600, stall_window_s=33))
    bus.seed(sub)
    await dispatcher.dispatch(attempt(params={"1.seed": 2}), deliveries=1)

    (event,) = bus.of(JobDispatched)
    pid = prompt_id_for("job-1", 1, 0)
    assert event.backend_id == "b0" and event.params == {"1.seed": 2}
    assert [(p.prompt_id, p.number, p.output_nodes) for p in event.prompts] == [(pid, 3, ["9"])]
    assert event.stall_window_s == 33
    assert event.deadline_at == pytest.approx(sub.occurred_at.timestamp() + 600)
    (body,) = comfy.posted("/prompt")
    assert body["prompt_id"] == pid and body["prompt"] == WORKFLOW
    assert body["extra_data"]["comfy_recovery"] == {"job_id": "job-1", "attempt": 1, "part": 0}
    assert not comfy.posted("/history")  # a fresh claim posts without asking first
    prompts = bus.buckets[subjects.KV_PROMPTS]
    assert not prompts.live(pid)  # released once the outcome is published
    assert dispatcher.registry.views["b0"].inflight == [NOW]

    # delivered again: the stream says it is done, nothing is posted twice
    await dispatcher.dispatch(attempt(), deliveries=2)
    assert len(comfy.posted("/prompt")) == 1 and len(bus.of(JobDispatched)) == 1


async def test_without_a_submission_the_default_stall_window_applies_and_uploads_go_first() -> None:
    comfy = Comfy()
    dispatcher, bus = make({"b0": comfy})
    asset = InputAsset(name="in.png", data_b64="aGVsbG8=", subfolder="cr")
    await dispatcher.dispatch(attempt(uploads=[asset]), deliveries=1)
    (event,) = bus.of(JobDispatched)
    assert event.stall_window_s == 90.0 and event.deadline_at is None
    paths = [p for m, p, _ in comfy.requests if m == "POST"]
    assert paths == ["/upload/image", "/prompt"]


async def test_a_validation_refusal_is_published_as_a_failure_of_that_prompt() -> None:
    refusal = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed"},
        "node_errors": {
            "1": {
                "class_type": "KSampler",
                "errors": [{"type": "value_not_in_list", "message": "bad ckpt"}],
            }
        },
    }
    comfy = Comfy(prompt=lambda body: httpx.Response(400, json=refusal))
    dispatcher, bus = make({"b0": comfy})
    await dispatcher.dispatch(attempt(), deliveries=1)
    (failed,) = bus.of(JobFailed)
    assert failed.prompt_id == prompt_id_for("job-1", 1, 0) and failed.backend_id == "b0"
    assert failed.evidence.surface == "validation"
    assert failed.evidence.validation_type == "value_not_in_list"
    assert not bus.of(JobDispatched)


async def test_a_partial_accept_is_stopped_on_the_backend_and_reported() -> None:
    partial = {"prompt_id": "x", "number": 1, "node_errors": {"1": {"errors": [{"type": "t"}]}}}
    comfy = Comfy(prompt=lambda body: httpx.Response(200, json=partial))
    dispatcher, bus = make({"b0": comfy})
    await dispatcher.dispatch(attempt(), deliveries=1)
    (failed,) = bus.of(JobFailed)
    assert failed.evidence.observation == "partial_accept"
    pid = prompt_id_for("job-1", 1, 0)
    assert comfy.posted("/queue") == [{"delete": [pid]}]
    assert comfy.posted("/interrupt") == [{"prompt_id": pid}]


async def test_an_unreachable_backend_and_a_server_error_become_evidence() -> None:
    down = Comfy(down=True)
    dispatcher, bus = make({"b0": down})
    await dispatcher.dispatch(attempt(), deliveries=1)
    (failed,) = bus.of(JobFailed)
    assert failed.evidence.surface == "client"
    assert failed.evidence.exception_type == "httpx.ConnectError"

    broken = Comfy(prompt=lambda body: httpx.Response(500, text="boom\ntrace"))
    dispatcher, bus = make({"b0": broken})
    await dispatcher.dispatch(attempt(), deliveries=1)
    (failed,) = bus.of(JobFailed)
    assert (failed.evidence.surface, failed.evidence.http_status) == ("http", 500)
    assert failed.evidence.message == "boom"


async def test_a_lost_reply_counts_as_posted_when_the_backend_has_the_prompt() -> None:
    pid = prompt_id_for("job-1", 1, 0)
    comfy = Comfy(history={pid: {"status": {}}})

    def reset(body: dict[str, object]) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    comfy.prompt = reset
    dispatcher, bus = make({"b0": comfy})
    await dispatcher.dispatch(attempt(), deliveries=1)
    (event,) = bus.of(JobDispatched)
    assert [p.prompt_id for p in event.prompts] == [pid] and event.prompts[0].number is None


async def test_a_failed_upload_is_an_http_failure_and_nothing_is_posted() -> None:
    comfy = Comfy()
    original = comfy.answer

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/upload/image":
            return httpx.Response(413, text="too large")
        return original(request)

    comfy.answer = answer  # type: ignore[method-assign]
    dispatcher, bus = make({"b0": comfy})
    asset = InputAsset(name="in.png", data_b64="aGVsbG8=")
    await dispatcher.dispatch(attempt(uploads=[asset]), deliveries=1)
    (failed,) = bus.of(JobFailed)
    assert failed.evidence.http_status == 413 and not comfy.posted("/prompt")


async def test_a_pause_holds_every_dispatch() -> None:
    dispatcher, bus = make({"b0": Comfy()})
    dispatcher.paused = True
    with pytest.raises(TransientError, match="paused"):
        await dispatcher.dispatch(attempt(), deliveries=1)
    assert not bus.events


async def test_no_usable_backend_is_reported_once_with_the_reason() -> None:
    dispatcher, bus = make({"b0": Comfy()})
    dispatcher.registry.views["b0"].reachable = False
    await dispatcher.dispatch(attempt(), deliveries=1)
    (failed,) = bus.of(JobFailed)
    assert failed.evidence.observation == "no_backend" and failed.backend_id is None
    assert "no ComfyUI backend can take the job now" in failed.evidence.message
    await dispatcher.dispatch(attempt(), deliveries=2)  # already reported: not again
    assert len(bus.of(JobFailed)) == 1


async def test_a_decided_wait_is_held_until_its_time_then_reported_near_the_limit() -> None:
    dispatcher, bus = make({"b0": Comfy()}, bus=FakeBus(max_deliver=10))
    dispatcher.registry.views["b0"].reachable = False
    later = attempt(wait_until=utcnow() + timedelta(days=1))
    dispatcher.clock = lambda: utcnow().timestamp()
    with pytest.raises(TransientError, match="waiting") as held:
        await dispatcher.dispatch(later, deliveries=1)
    assert held.value.retry_after_s == 5.0
    await dispatcher.dispatch(later, deliveries=8)  # limit - 2: reported so recovery renews
    assert [f.evidence.observation for f in bus.of(JobFailed)] == ["no_backend"]


async def test_busy_backends_hold_the_job_until_the_delivery_limit_nears() -> None:
    dispatcher, bus = make({"b0": Comfy()}, bus=FakeBus(max_deliver=10), max_queue=2)
    dispatcher.registry.views["b0"].saw_queue(2, NOW)
    with pytest.raises(TransientError, match="busy") as held:
        await dispatcher.dispatch(attempt(), deliveries=1)
    assert held.value.retry_after_s == 1.0
    assert dispatcher.busy_give_up(8) is None and dispatcher.busy_give_up(7) == 1.0
    assert limits_of(attempt(), dispatcher) == Constraints(max_queue=2)
    await dispatcher.dispatch(attempt(), deliveries=9)
    assert [f.evidence.observation for f in bus.of(JobFailed)] == ["no_backend"]


async def test_a_live_claim_of_another_instance_sends_the_message_back() -> None:
    comfy = Comfy()
    dispatcher, bus = make({"b0": comfy})
    pid = prompt_id_for("job-1", 1, 0)
    theirs = ClaimRecord(holder="other", backend_id="b0", job_id="job-1", attempt=1, at=9e12)
    kv = await bus.kv(subjects.KV_PROMPTS)
    await kv.create(pid, msgspec.json.encode(theirs))
    with pytest.raises(TransientError, match="another submitter"):
        await dispatcher.dispatch(attempt(), deliveries=1)
    assert not comfy.requests and not bus.events


async def test_a_stale_claim_is_taken_over_and_its_backend_asked_before_posting() -> None:
    b0, b1 = Comfy(), Comfy()
    pid = prompt_id_for("job-1", 1, 0)
    b1.queue = {"queue_running": [[1, pid, {}, {}, []]], "queue_pending": []}
    dispatcher, bus = make({"b0": b0, "b1": b1})
    dispatcher.registry.views["b1"].saw_queue(5, NOW)  # b0 looks better: the claim wins
    stale = ClaimRecord(holder="gone", backend_id="b1", job_id="job-1", attempt=1, at=0.0)
    kv = await bus.kv(subjects.KV_PROMPTS)
    await kv.create(pid, msgspec.json.encode(stale))
    await dispatcher.dispatch(attempt(), deliveries=1)
    (event,) = bus.of(JobDispatched)
    assert event.backend_id == "b1" and not b1.posted("/prompt") and not b0.requests
    assert not kv.live(pid)


async def test_an_interrupt_is_recorded_before_it_is_sent() -> None:
    comfy = Comfy()
    dispatcher, bus = make({"b0": comfy})
    await dispatcher.interrupt("job-1", 2, "b0", "p-1", "cancelled", "cause-9")
    (sent,) = bus.of(InterruptSent)
    assert (sent.prompt_id, sent.backend_id, sent.attempt, sent.reason) == (
        "p-1",
        "b0",
        2,
        "cancelled",
    )
    assert sent.causation_id == "cause-9"
    assert comfy.posted("/queue") == [{"delete": ["p-1"]}]
    assert comfy.posted("/interrupt") == [{"prompt_id": "p-1"}]


async def test_jobs_dispatched_side_by_side_spread_over_idle_backends() -> None:
    # The intake handles a batch's jobs concurrently: each counts its dispatch before its
    # first await, so the next one to choose sees that backend as loaded.
    comfies = {"b0": Comfy(), "b1": Comfy()}
    dispatcher, _ = make(comfies)
    real_done = dispatcher.log.attempt_done

    async def done_after_a_yield(job_id: str, number: int) -> bool:
        await asyncio.sleep(0)  # the stream read gives the other job its turn
        return await real_done(job_id, number)

    dispatcher.log.attempt_done = done_after_a_yield  # type: ignore[method-assign]
    first = Attempt(job_id="job-1", attempt=1, cause_id="c1", workflows=[WORKFLOW])
    second = Attempt(job_id="job-2", attempt=1, cause_id="c2", workflows=[WORKFLOW])
    await asyncio.gather(
        dispatcher.dispatch(first, deliveries=1), dispatcher.dispatch(second, deliveries=1)
    )
    assert [len(c.posted("/prompt")) for c in comfies.values()] == [1, 1]
    views = dispatcher.registry.views
    assert views["b0"].inflight == [NOW] and views["b1"].inflight == [NOW]
