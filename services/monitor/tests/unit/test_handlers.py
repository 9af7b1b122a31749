"""The check timer reconciles every `reconcile_interval_s` (fake clock), and a new dispatch
is looked at once at once (it may have finished before we heard of it)."""

from __future__ import annotations

from typing import Any, cast

from contracts import DispatchedPrompt, JobCompleted, JobDispatched, utcnow
from cr_runtime.consumer import Delivery
from monitor.handlers import Watching

from .conftest import Scene

SUCCESS = {"status": {"status_str": "success", "messages": []}}


def completed(scene: Scene) -> list[str]:
    return [e.job_id for e in scene.bus.published if isinstance(e, JobCompleted)]


async def test_a_reconcile_runs_only_when_its_interval_has_passed(scene: Scene) -> None:
    watching = Watching(scene.watches, {"b0": scene.follower}, scene.clock, reconcile_interval_s=10)
    scene.connect()
    scene.dispatch("p1")
    scene.comfy.history["p1"] = SUCCESS  # finished, but no websocket message said so
    scene.clock.advance(9)
    await watching.tick()
    assert completed(scene) == []
    scene.clock.advance(2)
    await watching.tick()
    assert completed(scene) == ["j"]


async def test_a_dispatch_that_already_finished_completes_when_it_is_heard_of(
    scene: Scene,
) -> None:
    watching = Watching(scene.watches, {"b0": scene.follower}, scene.clock, reconcile_interval_s=10)
    scene.comfy.history["p9"] = SUCCESS
    event = JobDispatched(
        event_id="d9",
        job_id="j9",
        attempt=1,
        occurred_at=utcnow(),
        source="test",
        backend_id="b0",
        client_id="c",
        prompts=[DispatchedPrompt(prompt_id="p9", part=0)],
    )
    await watching.on_event(event, cast(Delivery, cast(Any, None)))
    assert completed(scene) == ["j9"]
