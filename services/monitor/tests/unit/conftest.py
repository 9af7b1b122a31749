"""A follower on a fake clock: a fake ComfyUI at the HTTP transport, a bus that records what
is published, and a stand-in websocket. Nothing of the monitor itself is faked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import pytest

from contracts import DispatchedPrompt, JobDispatched, JobFailed, utcnow
from contracts.backends import BackendRef
from cr_client import Bus
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.ledger import Ledger
from monitor.clock import ManualClock
from monitor.follower import Follower
from monitor.publisher import Publisher
from monitor.watch import PromptWatch, WatchSet

REF = BackendRef("b0", "http://comfy:8188")
WEDGE_S = 120.0
LOST_S = 3.0
GRACE_S = 30.0


@dataclass
class FakeComfy:
    """What /queue and /history answer (a real ComfyReader reads it over MockTransport)."""

    running: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    history: dict[str, Any] = field(default_factory=dict)
    down: bool = False

    def answer(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        path = request.url.path
        if path == "/queue":
            return httpx.Response(
                200,
                json={
                    "queue_running": [[0, p, {}, {}, []] for p in self.running],
                    "queue_pending": [[1, p, {}, {}, []] for p in self.pending],
                },
            )
        if path.startswith("/history/"):
            prompt_id = path.removeprefix("/history/")
            entry = self.history.get(prompt_id)
            return httpx.Response(200, json={prompt_id: entry} if entry else {})
        return httpx.Response(404)


class RecordingBus:
    """The publishing side of `Bus`: keeps every event."""

    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, event: Any) -> None:
        self.published.append(event)


class StandInSocket:
    """The open websocket as the follower sees it: something it may close."""

    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


@dataclass
class Scene:
    """A follower of backend b0 with its clock, its ComfyUI and its bus."""

    clock: ManualClock
    comfy: FakeComfy
    bus: RecordingBus
    watches: WatchSet
    follower: Follower
    socket: StandInSocket | None = None

    def connect(self) -> StandInSocket:
        """Our websocket opens (again)."""
        self.socket = StandInSocket()
        self.follower.opened(self.socket)
        return self.socket

    def dispatch(self, prompt_id: str = "p1", **fields: Any) -> PromptWatch:
        """The submitter dispatched one prompt of job j to b0; it is now watched."""
        event = JobDispatched(
            event_id=f"d-{prompt_id}",
            job_id=fields.pop("job_id", "j"),
            attempt=1,
            occurred_at=utcnow(),
            source="test",
            backend_id="b0",
            client_id="c",
            prompts=[DispatchedPrompt(prompt_id=prompt_id, part=0)],
            **fields,
        )
        self.watches.apply(event, self.clock.now())
        return self.watches.prompts[prompt_id]

    async def observe(self, kind: str, **data: Any) -> None:
        """A websocket message arrives."""
        await self.follower.on_message(kind, data)

    def failures(self) -> list[str | None]:
        """The observation of every job.failed published so far."""
        return [e.evidence.observation for e in self.bus.published if isinstance(e, JobFailed)]


@pytest.fixture
def scene() -> Scene:
    clock, comfy, bus, watches = ManualClock(), FakeComfy(), RecordingBus(), WatchSet()
    http = httpx.AsyncClient(transport=httpx.MockTransport(comfy.answer))
    follower = Follower(
        REF,
        ComfyReader(REF, http),
        watches,
        Publisher(cast(Bus, bus)),
        Ledger(cast(Bus, bus)),
        progress_per_s=2.0,
        lost_grace_s=LOST_S,
        wedge_window_s=WEDGE_S,
        unreachable_grace_s=GRACE_S,
        clock=clock,
    )
    return Scene(clock, comfy, bus, watches, follower)
