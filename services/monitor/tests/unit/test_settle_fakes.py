"""Settling and following on the fake-clock scene (conftest): websocket news, outcomes read
from /history, publishes the bus refuses, and the watch set rebuilt from the stream."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from nats.js.errors import NotFoundError

from contracts import codec, subjects
from contracts.envelope import utcnow
from contracts.errors import BusUnavailableError
from contracts.job import DispatchedPrompt, JobCompleted, JobDispatched, JobFailed, JobProgressed
from cr_client import Bus
from monitor.adapters.ledger import Ledger
from monitor.clock import ManualClock
from monitor.handlers import REBUILD_SUBJECTS, Watching, rebuild
from monitor.watch import WatchSet
from services.monitor.tests.unit.conftest import Scene


class NoInterrupts:
    """A stream that holds no interrupt for any job."""

    async def get_last_msg(self, stream: str, subject: str) -> Any:
        raise NotFoundError


def refuse_publishes(scene: Scene) -> list[Any]:
    """From now on the bus is unavailable; returns what it was asked to publish."""
    refused: list[Any] = []

    async def publish(event: Any) -> None:
        refused.append(event)
        raise BusUnavailableError("nats down")

    scene.bus.publish = publish  # type: ignore[method-assign]
    return refused


def history(status: str, *messages: tuple[str, dict[str, Any]], outputs: Any = None) -> Any:
    entry: dict[str, Any] = {
        "status": {"status_str": status, "messages": [list(m) for m in messages]}
    }
    if outputs is not None:
        entry["outputs"] = outputs
    return entry


async def test_websocket_news_drives_progress_and_the_end_reads_history(scene: Scene) -> None:
    scene.connect()
    prompt = scene.dispatch("p1")
    await scene.observe("execution_start", prompt_id="p1")
    assert prompt.running
    await scene.observe("executing", prompt_id="p1", node="3")
    assert prompt.node == "3"
    await scene.observe("progress", prompt_id="p1", node="3", value=1, max=4)
    (progress,) = [e for e in scene.bus.published if isinstance(e, JobProgressed)]
    assert (progress.value, progress.max, progress.percent) == (1, 4, 25.0)
    scene.comfy.history["p1"] = history("success", outputs={"9": {"images": [{"filename": "a"}]}})
    await scene.observe("executing", prompt_id="p1", node=None)
    (done,) = [e for e in scene.bus.published if isinstance(e, JobCompleted)]
    assert "9" in done.outputs and prompt.done


async def test_a_resumed_socket_learns_the_node_of_our_listed_running_prompt(scene: Scene) -> None:
    scene.connect()
    prompt = scene.dispatch("p1")
    prompt.listed_running = True
    other = scene.dispatch("p2", job_id="j2")
    await scene.observe("executing", node=None)  # nothing to learn
    assert prompt.node is None
    scene.clock.advance(5)
    await scene.observe("executing", node="7")
    assert prompt.node == "7" and prompt.running
    assert prompt.last_progress_at == scene.clock.now()
    assert other.node is None


async def test_news_of_a_prompt_not_yet_dispatched_is_kept_for_it(scene: Scene) -> None:
    scene.connect()
    await scene.observe("executing", prompt_id="early", node="4")
    await scene.observe("progress", node="4")  # no prompt id: nothing to keep
    prompt = scene.dispatch("early")
    await scene.follower.check()
    assert prompt.running and prompt.node == "4"


async def test_a_dropped_progress_report_is_not_an_error(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1")
    refused = refuse_publishes(scene)
    await scene.observe("progress", prompt_id="p1", node="3", value=4, max=4)
    assert [type(e) for e in refused] == [JobProgressed]


async def test_an_execution_error_in_history_is_published_with_its_evidence(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1")
    error = {
        "node_id": "3",
        "node_type": "KSampler",
        "exception_type": "torch.OutOfMemoryError",
        "exception_message": "CUDA out of memory\n",
    }
    scene.comfy.history["p1"] = history("error", ("execution_error", error))
    await scene.follower.reconcile()
    (failed,) = [e for e in scene.bus.published if isinstance(e, JobFailed)]
    assert failed.evidence.surface == "execution_error"
    assert (failed.evidence.node_type, failed.evidence.message) == (
        "KSampler",
        "CUDA out of memory",
    )


async def test_an_interrupt_nobody_recorded_is_someone_elses(scene: Scene) -> None:
    scene.bus.js = NoInterrupts()  # type: ignore[attr-defined]
    scene.connect()
    scene.dispatch("p1")
    interrupted = ("execution_interrupted", {"node_id": "3", "node_type": "KSampler"})
    scene.comfy.history["p1"] = history("error", interrupted)
    await scene.follower.reconcile()
    (failed,) = [e for e in scene.bus.published if isinstance(e, JobFailed)]
    assert failed.evidence.observation == "interrupted"
    assert failed.evidence.message == "execution was interrupted by someone else"
    assert not failed.evidence.interrupted_by_us


async def test_a_success_missing_an_expected_output_is_a_failure(scene: Scene) -> None:
    scene.connect()
    prompt = scene.dispatch("p1")
    prompt.output_nodes = ["9", "12"]
    scene.comfy.history["p1"] = history(
        "success", outputs={"9": {"images": [{"filename": "a.png"}]}}
    )
    await scene.follower.reconcile()
    assert scene.failures() == ["output_missing"]
    (failed,) = [e for e in scene.bus.published if isinstance(e, JobFailed)]
    assert failed.evidence.message == "output nodes produced nothing: 12"


async def test_an_outcome_the_bus_refuses_is_published_on_a_later_reconcile(scene: Scene) -> None:
    scene.connect()
    prompt = scene.dispatch("p1")
    scene.comfy.history["p1"] = history("success")
    publish = scene.bus.publish
    refused = refuse_publishes(scene)
    await scene.follower.reconcile()
    assert [type(e) for e in refused] == [JobCompleted] and not prompt.done
    scene.bus.publish = publish  # type: ignore[method-assign]
    await scene.follower.reconcile()
    assert [type(e) for e in scene.bus.published] == [JobCompleted] and prompt.done


async def test_a_failure_the_bus_refuses_stays_to_be_reported(scene: Scene) -> None:
    scene.connect()
    prompt = scene.dispatch("p1")
    scene.comfy.history["p1"] = history("error")
    refused = refuse_publishes(scene)
    await scene.follower.reconcile()
    assert [type(e) for e in refused] == [JobFailed] and not prompt.done


async def test_a_reconcile_against_a_down_backend_concludes_nothing(scene: Scene) -> None:
    scene.connect()
    prompt = scene.dispatch("p1")
    scene.comfy.down = True
    scene.clock.advance(3600)
    await scene.follower.reconcile()
    assert not prompt.done and scene.bus.published == []
    assert not await scene.follower.finish(prompt)


class StoredJS:
    """get_last_msg and an ordered replay over messages stored per subject."""

    def __init__(self, stored: dict[str, list[bytes]]) -> None:
        self.stored = stored

    async def get_last_msg(self, stream: str, subject: str) -> Any:
        if not self.stored.get(subject):
            raise NotFoundError
        return SimpleNamespace(seq=len(self.stored[subject]))

    async def subscribe(self, subject: str, **_: Any) -> Any:
        msgs = [
            SimpleNamespace(data=d, metadata=SimpleNamespace(sequence=SimpleNamespace(stream=i)))
            for i, d in enumerate(self.stored[subject], start=1)
        ]

        class Sub:
            async def next_msg(self, timeout: float) -> Any:
                return msgs.pop(0)

            async def unsubscribe(self) -> None:
                pass

        return Sub()


def dispatched(prompt_id: str, backend: str = "b0", job: str = "j") -> JobDispatched:
    return JobDispatched(
        event_id=f"d-{prompt_id}",
        job_id=job,
        attempt=1,
        occurred_at=utcnow(),
        source="t",
        backend_id=backend,
        client_id="c",
        prompts=[DispatchedPrompt(prompt_id=prompt_id)],
    )


async def test_the_watch_set_is_rebuilt_from_every_stored_dispatch() -> None:
    (dispatch_subject,) = [s for s in REBUILD_SUBJECTS if s.startswith(subjects.JOB_DISPATCHED)]
    stored = {
        dispatch_subject: [codec.encode(dispatched("p1")), codec.encode(dispatched("p2", job="j2"))]
    }
    bus = SimpleNamespace(js=StoredJS(stored))
    watches = WatchSet()
    assert await rebuild(Ledger(cast(Bus, bus)), watches, ManualClock()) == 2
    assert sorted(watches.prompts) == ["p1", "p2"]


async def test_a_dispatch_heard_is_looked_at_once_and_ticks_reconcile_when_due(
    scene: Scene,
) -> None:
    scene.connect()
    watching = Watching(
        scene.watches, {"b0": scene.follower}, scene.clock, reconcile_interval_s=10.0
    )
    scene.comfy.history["p1"] = history("success")
    await watching.on_event(dispatched("p1"), None)  # type: ignore[arg-type]
    assert [type(e) for e in scene.bus.published] == [JobCompleted]
    await watching.on_event(dispatched("px", backend="elsewhere", job="jx"), None)  # type: ignore[arg-type]
    assert "px" in scene.watches.prompts and len(scene.bus.published) == 1

    scene.dispatch("p2", job_id="j2")
    scene.comfy.history["p2"] = history("success")
    await watching.tick()  # no reconcile yet: p2 is not looked at
    assert len(scene.bus.published) == 1
    scene.clock.advance(10)
    await watching.tick()
    assert len(scene.bus.published) == 2
