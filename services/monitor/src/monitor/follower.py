"""Follows one backend: its websocket, reconciliation from /history and /queue, and the
stall / timeout / lost / wedged checks of our prompts there.

Time comes from an injected `Clock`; the windows themselves are decided in `watchdog`
and `checks` (pure), the outcomes published by `settle`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from contracts.backends import BackendRef, monitor_client_id
from contracts.errors import BusUnavailableError
from cr_client.backoff import Backoff
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.ledger import Ledger
from monitor.checks import Observation, observe
from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.early import EarlyNews
from monitor.errors import BackendDownError
from monitor.publisher import Publisher
from monitor.settle import BackendInfo, Settler
from monitor.translate import parse_frame, queue_remaining
from monitor.watch import PromptWatch, WatchSet
from monitor.watchdog import Liveness, lost_due, progress_due

log = structlog.get_logger(__name__)
WS_ERRORS = (OSError, asyncio.TimeoutError, WebSocketException)
RECONNECT_BACKOFF = Backoff(0.2, 5.0)
"""Between websocket reconnects to one backend (reset once one opens)."""
LOST = "the backend lost the prompt (restarted?): not queued, running or in history"
ACTIVITY = frozenset({"execution_start", "executing", "progress", "execution_cached"})
"""Websocket messages that show the backend's worker doing something."""


class Follower:
    """One backend's websocket and checks. Health probes fill `info` (version, device)."""

    def __init__(
        self,
        ref: BackendRef,
        reader: ComfyReader,
        watches: WatchSet,
        out: Publisher,
        ledger: Ledger,
        *,
        progress_per_s: float,
        lost_grace_s: float,
        wedge_window_s: float,
        unreachable_grace_s: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.ref = ref
        self.reader = reader
        self.watches = watches
        self.clock = clock
        self.min_progress_gap = 1.0 / progress_per_s if progress_per_s > 0 else 0.0
        self.lost_grace_s = lost_grace_s
        self.wedge_window_s = wedge_window_s
        self.unreachable_grace_s = unreachable_grace_s
        self.info = BackendInfo()
        self.settler = Settler(ref, reader, watches, out, ledger, clock, self.info)
        self.out = out
        self.live = Liveness(queue_moved_at=clock.now())
        self.tried = False
        self.on_open: Callable[[], Awaitable[None]] | None = None
        """Called once a socket is open, before the reconcile (the health probe: a backend
        seen up again is announced before any prompt it lost is reported)."""
        self._ws: Any = None
        self.early = EarlyNews()
        """What our socket heard of prompts before their dispatch event reached us."""

    @property
    def connected(self) -> bool:
        """Our websocket to the backend is open."""
        return self.live.connected

    async def run(self) -> None:
        """Keep a websocket open (closing the old one before reconnecting), forever."""
        url = f"{self.ref.ws_url}/ws?clientId={monitor_client_id(self.ref.id)}"
        failures = 0
        while True:
            try:
                async with ws_connect(url, max_size=None, open_timeout=5) as ws:
                    self.opened(ws)
                    failures = 0
                    await self._announce()
                    await self.reconcile()
                    self.tried = True
                    async for frame in ws:
                        if isinstance(frame, str):
                            await self.on_message(*parse_frame(frame))
            except WS_ERRORS as exc:
                log.info("ws.closed", backend=self.ref.id, error=repr(exc)[:200])
            self.closed()
            failures += 1
            await asyncio.sleep(RECONNECT_BACKOFF.delay(failures))

    def opened(self, ws: Any) -> None:
        """A websocket to the backend is open (the wedge window is not restarted)."""
        self._ws = ws
        self.live.opened(self.clock.now())
        log.info("ws.connected", backend=self.ref.id)

    async def _announce(self) -> None:
        if self.on_open is None:
            return
        try:
            await self.on_open()
        except BusUnavailableError as exc:
            log.warning("ws.open_not_announced", backend=self.ref.id, error=str(exc))

    def closed(self) -> None:
        """Our websocket dropped (or could not be opened)."""
        self._ws, self.tried = None, True
        self.live.closed(self.clock.now())

    async def on_message(self, kind: str, data: dict[str, Any]) -> None:
        """Handle one websocket text message (its type and data)."""
        now = self.clock.now()
        if kind == "status":
            self.live.status(queue_remaining(data), now)
            return
        if kind in ACTIVITY:
            self.live.moved(now)
        if kind == "executing" and "prompt_id" not in data:
            self._resumed_at(data.get("node"), now)
            return
        prompt = self.watches.prompts.get(str(data.get("prompt_id")))
        if prompt is None:
            self._heard_early(kind, data, now)
            return
        if kind == "execution_start":
            prompt.running, prompt.last_progress_at = True, now
        elif kind == "executing" and data.get("node") is None:
            await self.finish(prompt)
        elif kind == "executing":
            prompt.running, prompt.node = True, str(data["node"])
            prompt.last_progress_at = now
        elif kind == "progress":
            await self._progress(prompt, data, now)

    def _heard_early(self, kind: str, data: dict[str, Any], now: float) -> None:
        if "prompt_id" not in data:
            return
        prompt_id = str(data["prompt_id"])
        if kind == "executing" and data.get("node") is None:
            self.early.ended(prompt_id)
        elif kind in ("execution_start", "executing", "progress"):
            node = data.get("node")
            self.early.heard(prompt_id, None if node is None else str(node), now)

    def _resumed_at(self, node: Any, now: float) -> None:
        """The reduced ``executing`` a new socket gets while its client's job runs (API.md §7):
        our prompt that /queue lists as running is executing `node`."""
        if node is None:
            return
        for prompt in self.watches.on_backend(self.ref.id):
            if prompt.listed_running:
                prompt.running, prompt.node = True, str(node)
                prompt.last_progress_at = now

    async def _progress(self, prompt: PromptWatch, data: dict[str, Any], now: float) -> None:
        prompt.running, prompt.last_progress_at = True, now
        value, top = int(data.get("value", 0)), int(data.get("max", 0))
        if progress_due(prompt, now, value, top, self.min_progress_gap):
            prompt.last_progress_sent = now
            try:
                await self.out.progress(prompt, data.get("node"), value, top)
            except BusUnavailableError:
                log.info("progress.dropped", prompt_id=prompt.prompt_id)

    async def finish(self, prompt: PromptWatch) -> bool:
        """Publish the outcome of a finished prompt; whether it has finished (see `Settler`)."""
        return await self.settler.finish(prompt)

    async def reconcile(self) -> None:
        """Catch up from /history and /queue: nothing finished may go unreported."""
        prompts = self.watches.on_backend(self.ref.id)
        if not prompts:
            return
        try:
            running, pending = await self.reader.queue()
            self.live.listed(running, self.clock.now())
            for prompt in prompts:
                prompt.listed_running = prompt.prompt_id in running
                if await self.finish(prompt) or prompt.listed_running:
                    continue
                if prompt.prompt_id not in pending:
                    await self._maybe_lost(prompt)
            await self._unless_deaf(prompts)
        except BackendDownError as exc:
            log.info("reconcile.backend_down", backend=self.ref.id, error=str(exc))

    async def _unless_deaf(self, prompts: list[PromptWatch]) -> None:
        """Reopen the socket when ComfyUI runs our prompt but our socket heard nothing of it
        (a fresh connection gets the running node, so a stall can be told from a dead worker).
        """
        deaf = self.live.deaf(prompts, self.clock.now())
        if deaf is not None and self._ws is not None:
            log.warning("ws.deaf_reconnect", backend=self.ref.id, prompt_id=deaf.prompt_id)
            await self._ws.close()

    async def _maybe_lost(self, prompt: PromptWatch) -> None:
        """Neither queued, running nor finished: lost, once the grace after dispatch is over.

        Raises:
            BackendDownError: /history could not be read (then nothing is concluded).
        """
        if not lost_due(prompt, self.clock.now(), self.lost_grace_s):
            return
        if self._ws is None:
            # the backend answers HTTP again but our socket is not back yet: the reconnect
            # announces it up, then reconciles, so a lost prompt is never reported before
            # its backend is seen again (and one that stays unreachable is given up anyway)
            return
        # re-check history: it may have finished between our two reads
        if not await self.settler.finish_or_raise(prompt):
            lost = Observation("prompt_lost", LOST, queued=not prompt.running)
            await self.settler.observed(prompt, lost)

    async def check(self) -> None:
        """Deadline, stall, wedge and unreachable checks of our prompts on this backend."""
        now, wall = self.clock.now(), self.clock.wall()
        pulse = self.live.pulse(now, self.wedge_window_s, self.unreachable_grace_s)
        for prompt in self.watches.on_backend(self.ref.id):
            self.early.claim(prompt)
            found = observe(prompt, pulse, now, wall)
            if found is not None:
                await self.settler.observed(prompt, found)
