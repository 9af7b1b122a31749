"""The campaign's ComfyUI poller over a faked HTTP transport (httpx.MockTransport, the seam):
a prompt settles with its history entry, as lost after two misses, or as timed out; a
pending one waits. Each test drives `_poll` by hand: no real time passes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from comfy_recovery.campaign.watch import BackendWatcher, Settled

URL = "http://gpu"


class Comfy:
    """/queue and /history/<id> of one ComfyUI server, as mutable state."""

    def __init__(self) -> None:
        self.running: list[str] = []
        self.pending: list[str] = []
        self.history: dict[str, dict[str, Any]] = {}
        self.broken = False
        self.polls = 0
        self.polled_twice = asyncio.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/queue":
            self.polls += 1
            if self.polls == 2:
                self.polled_twice.set()
        if self.broken:
            return httpx.Response(500, text="not json")
        if request.url.path == "/queue":
            return httpx.Response(
                200,
                json={
                    "queue_running": [[0, p] for p in self.running],
                    "queue_pending": [[1, p] for p in self.pending],
                },
            )
        prompt_id = request.url.path.rsplit("/", 1)[1]
        entry = self.history.get(prompt_id)
        return httpx.Response(200, json={prompt_id: entry} if entry else {})


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def watcher(
    comfy: Comfy, stall_s: float = 3600.0, clock: FakeClock | None = None
) -> BackendWatcher:
    http = httpx.AsyncClient(transport=httpx.MockTransport(comfy))
    return BackendWatcher(URL, http, stall_s, clock=clock or FakeClock())


async def test_prompts_settle_by_history_and_lost_ones_after_two_misses() -> None:
    comfy = Comfy()
    w = watcher(comfy)
    done, gone, waiting, running = (w.watch(p) for p in ("done", "gone", "waiting", "running"))
    comfy.pending, comfy.running = ["waiting"], ["running"]
    comfy.history["done"] = {"status": {"status_str": "success"}}
    await w._poll()
    assert done.result() == Settled("history", {"status": {"status_str": "success"}})
    assert not gone.done() and not waiting.done() and not running.done()
    assert w.queue_length == 2
    await w._poll()
    assert gone.result() == Settled("lost")
    assert not waiting.done() and not running.done()  # stall window of an hour


async def test_a_prompt_running_past_the_stall_window_times_out() -> None:
    """The window counts from the first poll that saw the prompt running (at 100 s), not
    from `watch` or its time queued: still inside it at 110 s, out of it just past."""
    comfy, clock = Comfy(), FakeClock()
    w = watcher(comfy, stall_s=10.0, clock=clock)
    stuck = w.watch("stuck")
    comfy.pending = ["stuck"]
    clock.now = 50.0
    await w._poll()  # queued: its window has not started
    comfy.pending, comfy.running = [], ["stuck"]
    clock.now = 100.0
    await w._poll()
    clock.now = 110.0
    await w._poll()
    assert not stuck.done()
    clock.now = 110.5
    await w._poll()
    assert stuck.result() == Settled("timeout")


async def test_a_forgotten_prompt_is_not_settled_and_the_loop_survives_errors() -> None:
    comfy = Comfy()
    w = watcher(comfy)
    forgotten = w.watch("x")
    w.forget("x")
    w.forget("never-watched")
    comfy.history["x"] = {"status": {}}
    await w._poll()
    assert not forgotten.done()
    comfy.broken, comfy.polls = True, 0
    w.start()
    await asyncio.wait_for(comfy.polled_twice.wait(), 30)  # polled again after an error
    await w.stop()
    await watcher(comfy).stop()  # never started
