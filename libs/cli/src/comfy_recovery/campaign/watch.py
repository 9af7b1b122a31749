"""Client-side watching of prompts on ComfyUI servers by polling /queue and /history.

One poller per backend: it reads /queue, looks up /history/<id> for every watched prompt that
left the queue, and settles the prompt's future with its history entry, `lost` (absent from
queue and history twice in a row while the server answers: a restart dropped it) or `timeout`
(running longer than the stall window). Polling rather than the websocket keeps a baseline
client simple and immune to dropped sockets, as a careful script would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

POLL_S: Final = 0.25
LOST_AFTER: Final = 2
HTTP_TIMEOUT_S: Final = 5.0


@dataclass
class Settled:
    """How a watched prompt ended: `history` (entry attached), `lost` or `timeout`."""

    how: str
    entry: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Watched:
    future: asyncio.Future[Settled]
    running_since: float | None = None
    misses: int = 0


class BackendWatcher:
    """Polls one backend for the prompts handed to `watch`; `clock` (monotonic seconds)
    times the stall window and is injected by tests."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        stall_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.http = http
        self.stall_s = stall_s
        self.clock = clock
        self.queue_length = 0
        self._watched: dict[str, _Watched] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling."""
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop polling; unsettled prompts stay unsettled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def watch(self, prompt_id: str) -> asyncio.Future[Settled]:
        """A future settled when the prompt ends, is lost or times out."""
        future: asyncio.Future[Settled] = asyncio.get_running_loop().create_future()
        self._watched[prompt_id] = _Watched(future)
        self.queue_length += 1
        return future

    def forget(self, prompt_id: str) -> None:
        """Stop watching a prompt (the client gave up on it)."""
        self._watched.pop(prompt_id, None)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                await self._poll()
            await asyncio.sleep(POLL_S)

    async def _poll(self) -> None:
        queue = (await self.http.get(f"{self.url}/queue", timeout=HTTP_TIMEOUT_S)).json()
        running = {item[1] for item in queue.get("queue_running", [])}
        pending = {item[1] for item in queue.get("queue_pending", [])}
        self.queue_length = len(running) + len(pending)
        now = self.clock()
        for prompt_id, watched in list(self._watched.items()):
            if prompt_id in pending:
                continue
            if prompt_id in running:
                if watched.running_since is None:
                    watched.running_since = now
                if now - watched.running_since > self.stall_s:
                    self._settle(prompt_id, Settled("timeout"))
                continue
            reply = await self.http.get(f"{self.url}/history/{prompt_id}", timeout=HTTP_TIMEOUT_S)
            entry = reply.json().get(prompt_id)
            if entry:
                self._settle(prompt_id, Settled("history", entry))
                continue
            watched.misses += 1
            if watched.misses >= LOST_AFTER:
                self._settle(prompt_id, Settled("lost"))

    def _settle(self, prompt_id: str, settled: Settled) -> None:
        watched = self._watched.pop(prompt_id, None)
        if watched is not None and not watched.future.done():
            watched.future.set_result(settled)
