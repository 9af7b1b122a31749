"""The submitter's handlers over faked seams: a job's first attempt, a decision's actions
in order (once each), and the emergency stop."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.backends import EXTRA_DATA_KEY, BackendRef
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.envelope import prompt_id_for, utcnow
from contracts.errors import TransientError
from contracts.job import Binding, InputAsset, InterruptSent, JobDispatched, JobFailed, JobSubmitted
from contracts.recovery import (
    Abort,
    Dispatch,
    FreeVram,
    Interrupt,
    QuarantineBackend,
    RecoveryDecided,
    UploadInput,
)
from contracts.taxonomy import Strategy
from services.submitter.tests.unit.seam_fakes import Comfy, FakeBus
from submitter.adapters.claims import Claims
from submitter.adapters.registry import Registry
from submitter.dispatcher import Dispatcher
from submitter.handlers import Handlers

WORKFLOW = {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512}}}
FIRST = SimpleNamespace(num_delivered=1)


def handlers(comfies: dict[str, Comfy]) -> tuple[Handlers, FakeBus]:
    bus = FakeBus()
    dispatcher = Dispatcher(
        bus,  # type: ignore[arg-type]
        Registry([BackendRef(b, f"http://{b}:8188") for b in comfies]),
        {b: c.client(b) for b, c in comfies.items()},
        Claims(bus, "me", 60.0),  # type: ignore[arg-type]
        source="submitter/test",
        no_backend_retry_s=5.0,
        default_stall_window_s=90.0,
        clock=lambda: 1_000.0,
    )
    return Handlers(dispatcher), bus


def envelope(event_id: str, attempt: int = 0) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "job_id": "job-1",
        "attempt": attempt,
        "occurred_at": utcnow(),
        "source": "test",
    }


def submission(**kw: Any) -> JobSubmitted:
    return JobSubmitted(**envelope("sub-1"), workflow=WORKFLOW, **kw)


def decision(*actions: Any, event_id: str = "dec-1") -> RecoveryDecided:
    return RecoveryDecided(
        **envelope(event_id, attempt=1),
        answers_event_id="fail-1",
        strategy=Strategy.RETRY,
        actions=list(actions),
        reason="out of memory",
    )


async def test_a_submission_becomes_attempt_one_with_its_parameters_applied() -> None:
    comfy = Comfy()
    h, bus = handlers({"b0": comfy})
    await h.on_job(
        submission(params={"w": 768}, bindings={"w": Binding(node="5", input="width")}), FIRST
    )  # type: ignore[arg-type]
    (event,) = bus.of(JobDispatched)
    assert event.attempt == 1 and event.causation_id == "sub-1"
    (body,) = comfy.posted("/prompt")
    assert body["prompt"]["5"]["inputs"]["width"] == 768


async def test_an_unbuildable_submission_fails_attempt_one_once_as_invalid() -> None:
    comfy = Comfy()
    h, bus = handlers({"b0": comfy})
    bad = submission(params={"w": 768}, bindings={"w": Binding(node="99", input="width")})
    await h.on_job(bad, FIRST)  # type: ignore[arg-type]
    await h.on_job(bad, FIRST)  # type: ignore[arg-type]
    (failed,) = bus.of(JobFailed)
    assert failed.evidence.validation_type == "invalid_prompt"
    assert failed.evidence.exception_type == "InvalidWorkflowError"
    assert failed.evidence.node_id == "99" and not comfy.requests


async def test_other_events_are_ignored_by_each_handler() -> None:
    h, bus = handlers({"b0": Comfy()})
    other = DispatchResumed(**envelope("r-1"))
    await h.on_job(other, FIRST)  # type: ignore[arg-type]
    await h.on_decision(other, FIRST)  # type: ignore[arg-type]
    await h.on_control(submission(), FIRST)  # type: ignore[arg-type]
    assert not bus.events and not h.d.paused


async def test_a_decision_frees_interrupts_then_dispatches_and_acts_only_once() -> None:
    comfy = Comfy()
    h, bus = handlers({"b0": comfy})
    sub = submission(
        inputs=[
            InputAsset(name="a.png", data_b64="aGk="),
            InputAsset(name="b.png", data_b64="aGk="),
        ]
    )
    bus.seed(sub)
    dec = decision(
        FreeVram(backend_id="b0", unload_models=True, free_memory=False),
        Interrupt(backend_id="b0", prompt_id="old-p"),
        UploadInput(name="a.png"),
        QuarantineBackend(backend_id="b9"),
        Dispatch(attempt=2, workflows=[WORKFLOW], params={"5.width": 640}, exclude_backends=["b9"]),
    )
    await h.on_decision(dec, FIRST)  # type: ignore[arg-type]
    assert comfy.posted("/free") == [{"unload_models": True, "free_memory": False}]
    (sent,) = bus.of(InterruptSent)
    assert sent.prompt_id == "old-p" and sent.reason == "out of memory"
    (dispatched,) = bus.of(JobDispatched)
    assert dispatched.attempt == 2 and dispatched.params == {"5.width": 640}
    uploads = [p for m, p, _ in comfy.requests if p == "/upload/image"]
    assert len(uploads) == 1  # only the asset the decision names

    await h.on_decision(dec, FIRST)  # type: ignore[arg-type]
    assert len(comfy.posted("/free")) == 1 and len(bus.of(InterruptSent)) == 1


async def test_a_dispatch_not_yet_due_comes_back_later_without_posting() -> None:
    comfy = Comfy()
    h, bus = handlers({"b0": comfy})
    due = utcnow() + timedelta(hours=1)
    with pytest.raises(TransientError, match="not due") as later:
        await h.on_decision(
            decision(Dispatch(attempt=2, workflows=[WORKFLOW], not_before=due)), FIRST
        )  # type: ignore[arg-type]
    assert 3500 < (later.value.retry_after_s or 0) <= 3600
    assert not comfy.requests and not bus.events


async def test_an_action_on_a_dead_backend_is_moot_and_the_rest_goes_on() -> None:
    dead, alive = Comfy(down=True), Comfy()
    h, bus = handlers({"dead": dead, "alive": alive})
    h.d.registry.views["dead"].reachable = False
    await h.on_decision(
        decision(
            FreeVram(backend_id="dead"),
            Interrupt(backend_id="dead", prompt_id="p", reason="stalled"),
            UploadInput(name="none"),
            Dispatch(attempt=2, workflows=[WORKFLOW]),
        ),
        FIRST,  # type: ignore[arg-type]
    )
    assert [e.reason for e in bus.of(InterruptSent)] == ["stalled"]
    assert bus.of(JobDispatched)[0].backend_id == "alive"


async def test_an_abort_decision_posts_nothing() -> None:
    comfy = Comfy()
    h, bus = handlers({"b0": comfy})
    await h.on_decision(decision(Abort(reason="unrecoverable")), FIRST)  # type: ignore[arg-type]
    assert not comfy.requests and not bus.events


async def test_emergency_stop_pauses_and_interrupts_only_our_prompts_then_resume() -> None:
    ours = [1, "p-ours", {}, {EXTRA_DATA_KEY: {"job_id": "job-7", "attempt": 3}}, []]
    foreign = [2, "p-foreign", {}, {"client_id": "someone"}, []]
    short = [3, "p-short"]
    busy = Comfy(queue={"queue_running": [ours], "queue_pending": [foreign, short]})
    broken = Comfy(down=True)
    h, bus = handlers({"b0": busy, "b1": broken})
    await h.on_control(EmergencyStopRequested(**envelope("stop-1")), FIRST)  # type: ignore[arg-type]
    assert h.d.paused
    (sent,) = bus.of(InterruptSent)
    assert (sent.job_id, sent.attempt, sent.prompt_id, sent.reason) == (
        "job-7",
        3,
        "p-ours",
        "emergency stop",
    )
    assert sent.causation_id == "stop-1"
    assert busy.posted("/interrupt") == [{"prompt_id": "p-ours"}]
    with pytest.raises(TransientError, match="paused"):
        await h.on_job(submission(), FIRST)  # type: ignore[arg-type]
    await h.on_control(DispatchResumed(**envelope("resume-1")), FIRST)  # type: ignore[arg-type]
    assert not h.d.paused
    await h.on_job(submission(), FIRST)  # type: ignore[arg-type]
    assert bus.of(JobDispatched)[0].prompts[0].prompt_id == prompt_id_for("job-1", 1, 0)


async def test_the_memory_of_acted_decisions_is_bounded() -> None:
    h, _ = handlers({"b0": Comfy()})
    h._acted = {f"d{i}" for i in range(10_001)}
    await h.on_decision(decision(Dispatch(attempt=2, workflows=[WORKFLOW])), FIRST)  # type: ignore[arg-type]
    assert h._acted == {"dec-1"}
