"""The follower's windows on a fake clock: wedge (across reconnects), stall, lost, deadline,
unreachable backend, progress rate. No test here waits for real time to pass."""

from __future__ import annotations

from contracts import JobCompleted, JobProgressed
from monitor.watchdog import DEAF_AFTER_S

from .conftest import GRACE_S, LOST_S, WEDGE_S, Scene


async def test_a_wedged_worker_is_found_although_its_deaf_socket_is_reopened(
    scene: Scene,
) -> None:
    scene.connect()
    scene.dispatch("p1")
    scene.comfy.running = ["p1"]  # the worker took it and will never run it
    reopened, waited = 0, 0.0
    while waited <= WEDGE_S:
        scene.clock.advance(DEAF_AFTER_S + 1)
        waited += DEAF_AFTER_S + 1
        await scene.follower.reconcile()
        assert scene.socket is not None
        if scene.socket.closed:  # ComfyUI dropped our socket: we reconnect at once
            reopened += 1
            scene.follower.closed()
            scene.connect()
            await scene.observe("status", status={"exec_info": {"queue_remaining": 1}})
        await scene.follower.check()
        assert scene.failures() == ([] if waited <= WEDGE_S else ["wedged"])
    assert reopened >= 5, "the deaf socket was not reopened: the test shows nothing"


async def test_a_queue_that_keeps_moving_is_not_wedged(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1")
    scene.comfy.pending = ["p1"]
    remaining = 50
    for other in range(30):  # 300 s: other prompts run ahead of ours, one every 10 s
        scene.clock.advance(10)
        remaining -= 1
        scene.comfy.running = [f"other{other}"]
        await scene.follower.reconcile()
        await scene.observe("status", status={"exec_info": {"queue_remaining": remaining}})
        await scene.follower.check()
    assert scene.failures() == []


async def test_a_wedged_backend_is_found_while_queued_prompts_are_deleted(scene: Scene) -> None:
    """Jobs behind a dead worker reach their deadlines and their prompts are deleted one by
    one: the queue shrinks, but nothing ran."""
    scene.connect()
    scene.dispatch("p1")
    scene.comfy.running, scene.comfy.pending = ["stuck"], ["p1"]
    remaining, waited = 40, 0.0
    while waited <= WEDGE_S:
        scene.clock.advance(WEDGE_S / 8)
        waited += WEDGE_S / 8
        remaining -= 1
        await scene.follower.reconcile()
        await scene.observe("status", status={"exec_info": {"queue_remaining": remaining}})
        await scene.follower.check()
    assert scene.failures() == ["wedged"]


async def test_a_running_prompt_that_stops_reporting_is_stalled(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1", stall_window_s=60.0)
    await scene.observe("execution_start", prompt_id="p1")
    scene.clock.advance(59)
    await scene.observe("progress", prompt_id="p1", node="3", value=1, max=20)
    scene.clock.advance(59)
    await scene.follower.check()
    assert scene.failures() == []
    scene.clock.advance(2)
    await scene.follower.check()
    assert scene.failures() == ["stalled"]


async def test_a_prompt_that_started_before_its_dispatch_event_and_stalled_is_stalled(
    scene: Scene,
) -> None:
    """An idle backend starts a prompt at once: its first messages can reach our socket before
    its JobDispatched reaches us. When it then stalls, that is a stalled prompt (interrupt it),
    not a backend whose queue never moved (restart it)."""
    scene.connect()
    await scene.observe("execution_start", prompt_id="p1")
    await scene.observe("executing", prompt_id="p1", node="3")
    scene.dispatch("p1", stall_window_s=3.0)
    scene.comfy.running = ["p1"]
    for _ in range(int(WEDGE_S) + 2):
        scene.clock.advance(1)
        await scene.follower.reconcile()
        await scene.follower.check()
    assert scene.failures() == ["stalled"]


async def test_news_of_a_finished_unknown_prompt_is_dropped(scene: Scene) -> None:
    scene.connect()
    await scene.observe("execution_start", prompt_id="p1")
    await scene.observe("executing", prompt_id="p1", node=None)
    assert len(scene.follower.early) == 0


async def test_a_prompt_in_neither_queue_nor_history_is_lost_after_the_grace(
    scene: Scene,
) -> None:
    scene.connect()
    scene.dispatch("p1")
    scene.clock.advance(LOST_S - 1)
    await scene.follower.reconcile()
    assert scene.failures() == []
    scene.clock.advance(2)
    await scene.follower.reconcile()
    assert scene.failures() == ["prompt_lost"]


async def test_a_lost_prompt_is_reported_only_once_our_socket_is_back(scene: Scene) -> None:
    """A periodic reconcile can reach the backend's HTTP before our websocket reconnects;
    the backend must be announced up (on open) before the prompt it lost is reported."""
    scene.connect()
    scene.dispatch("p1")
    scene.follower.closed()
    scene.clock.advance(LOST_S + 1)
    await scene.follower.reconcile()
    assert scene.failures() == []
    scene.connect()
    await scene.follower.reconcile()
    assert scene.failures() == ["prompt_lost"]


async def test_a_prompt_found_in_history_completes_with_its_duration(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1")
    scene.clock.advance(42)
    scene.comfy.history["p1"] = {"status": {"status_str": "success", "messages": []}}
    await scene.follower.reconcile()
    [done] = [e for e in scene.bus.published if isinstance(e, JobCompleted)]
    assert done.duration_s == 42 and scene.failures() == []


async def test_a_backend_unreachable_past_the_grace_gives_its_prompts_up(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1")
    scene.follower.closed()
    scene.clock.advance(GRACE_S - 1)
    scene.follower.closed()  # each failed reconnect: the outage started at the first drop
    await scene.follower.check()
    assert scene.failures() == []
    scene.clock.advance(2)
    await scene.follower.check()
    assert scene.failures() == ["ws_closed"]


async def test_a_backend_back_within_the_grace_keeps_its_prompts(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1")
    scene.follower.closed()
    scene.clock.advance(GRACE_S - 1)
    scene.connect()
    scene.clock.advance(GRACE_S)
    await scene.follower.check()
    assert scene.failures() == []


async def test_a_job_past_its_deadline_times_out(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1", deadline_at=scene.clock.wall() + 5)
    await scene.observe("execution_start", prompt_id="p1")
    scene.clock.advance(4)
    await scene.follower.check()
    assert scene.failures() == []
    scene.clock.advance(2)
    await scene.follower.check()
    assert scene.failures() == ["timeout"]


async def test_progress_is_coalesced_but_the_last_step_always_goes_out(scene: Scene) -> None:
    scene.connect()
    scene.dispatch("p1")
    for value in range(1, 11):  # ten steps in 0.9 s, at most 2 reports per second
        await scene.observe("progress", prompt_id="p1", node="3", value=value, max=10)
        scene.clock.advance(0.1)
    sent = [e.value for e in scene.bus.published if isinstance(e, JobProgressed)]
    assert sent == [1, 6, 10]
