"""Follows one backend: its websocket, reconciliation from /history and /queue, and the
stall / timeout / lost / wedged checks of our prompts there."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from contracts.backends import BackendRef, monitor_client_id
from contracts.errors import BusUnavailableError
from contracts.job import FailureEvidence
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.ledger import Ledger
from monitor.checks import BackendPulse, Observation, observe
from monitor.errors import BackendDownError
from monitor.publisher import Publisher
from monitor.translate import (
    Outcome,
    execution_error_evidence,
    missing_outputs,
    observation_evidence,
    outcome_of,
    parse_frame,
    queue_remaining,
)
from monitor.watch import PromptWatch, WatchSet

log = structlog.get_logger(__name__)
DEAF_AFTER_S = 10.0
"""Our prompt listed as running this long with no websocket message about it: reconnect."""
WS_ERRORS = (OSError, asyncio.TimeoutError, WebSocketException)
LOST = "the backend lost the prompt (restarted?): not queued, running or in history"


class Follower:
    """One backend's websocket and checks. `version`/`device_type` come from health."""

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
    ) -> None:
        self.ref = ref
        self.reader = reader
        self.watches = watches
        self.out = out
        self.ledger = ledger
        self.min_progress_gap = 1.0 / progress_per_s if progress_per_s > 0 else 0.0
        self.lost_grace_s = lost_grace_s
        self.wedge_window_s = wedge_window_s
        self.version: str | None = None
        self.device_type: str | None = None
        self.connected = False
        self._ws: Any = None
        self._connected_at = 0.0
        self.down_since: float | None = None
        self.unreachable_grace_s = unreachable_grace_s
        self.tried = False
        self.last_activity = time.monotonic()
        self.queue_remaining: int | None = None
        self.last_running: list[str] = []
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        """Keep a websocket open (closing the old one before reconnecting), forever."""
        url = f"{self.ref.ws_url}/ws?clientId={monitor_client_id(self.ref.id)}"
        backoff = 0.2
        while True:
            try:
                async with ws_connect(url, max_size=None, open_timeout=5) as ws:
                    self._ws = ws
                    self._connected()
                    backoff = 0.2
                    await self.reconcile()
                    self.tried = True
                    async for frame in ws:
                        if isinstance(frame, str):
                            await self.on_message(*parse_frame(frame))
            except WS_ERRORS as exc:
                log.info("ws.closed", backend=self.ref.id, error=repr(exc)[:200])
            self.connected, self.tried, self._ws = False, True, None
            if self.down_since is None:
                self.down_since = time.monotonic()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _connected(self) -> None:
        self.connected, self.queue_remaining, self.down_since = True, None, None
        self._connected_at = time.monotonic()
        # what happened while we were not connected says nothing about the queue moving
        self._moved()
        log.info("ws.connected", backend=self.ref.id)

    def _moved(self) -> None:
        """The backend's queue moved, or one of our prompts made progress."""
        self.last_activity = time.monotonic()

    async def on_message(self, kind: str, data: dict[str, Any]) -> None:
        """Handle one websocket text message (its type and data)."""
        if kind == "status":
            self._queue_status(queue_remaining(data))
            return
        if kind in ("execution_start", "executing", "progress", "execution_cached"):
            self._moved()
        if kind == "executing" and "prompt_id" not in data:
            self._resumed_at(data.get("node"))
            return
        prompt = self.watches.prompts.get(str(data.get("prompt_id")))
        if prompt is None:
            return
        if kind == "execution_start":
            prompt.running, prompt.last_progress_at = True, time.monotonic()
        elif kind == "executing" and data.get("node") is None:
            await self.finish(prompt)
        elif kind == "executing":
            prompt.running, prompt.node = True, str(data["node"])
            prompt.last_progress_at = time.monotonic()
        elif kind == "progress":
            await self._progress(prompt, data)

    def _queue_status(self, remaining: int | None) -> None:
        """A shorter queue means a prompt finished: the queue moves (new arrivals do not count)."""
        if remaining is None:
            return
        if self.queue_remaining is not None and remaining < self.queue_remaining:
            self._moved()
        self.queue_remaining = remaining

    def _resumed_at(self, node: Any) -> None:
        """The reduced ``executing`` a new socket gets while its client's job runs (API.md §7):
        our prompt that /queue lists as running is executing `node`."""
        if node is None:
            return
        for prompt in self.watches.on_backend(self.ref.id):
            if prompt.listed_running:
                prompt.running, prompt.node = True, str(node)
                prompt.last_progress_at = time.monotonic()

    async def _progress(self, prompt: PromptWatch, data: dict[str, Any]) -> None:
        now = time.monotonic()
        prompt.running, prompt.last_progress_at = True, now
        value, top = int(data.get("value", 0)), int(data.get("max", 0))
        if now - prompt.last_progress_sent >= self.min_progress_gap or value >= top:
            prompt.last_progress_sent = now
            try:
                await self.out.progress(prompt, data.get("node"), value, top)
            except BusUnavailableError:
                log.info("progress.dropped", prompt_id=prompt.prompt_id)

    async def finish(self, prompt: PromptWatch) -> bool:
        """Publish the outcome of a finished prompt; whether it has finished (False also when
        /history cannot be read: that is no answer).

        A publish that fails is retried by the next reconcile (the prompt stays watched).
        """
        try:
            return await self._finish(prompt)
        except BackendDownError:
            return False

    async def _finish(self, prompt: PromptWatch) -> bool:
        """`finish`, but a /history that cannot be read raises `BackendDownError`."""
        entry = await self.reader.history(prompt.prompt_id)
        outcome = outcome_of(entry) if entry else None
        if outcome is None:
            return False
        try:
            await self.settle(prompt, outcome)
        except BusUnavailableError as exc:
            log.warning("settle.deferred", prompt_id=prompt.prompt_id, error=str(exc))
        return True

    async def settle(self, prompt: PromptWatch, outcome: Outcome) -> None:
        """Publish what a finished prompt means for its attempt (once, whoever calls first)."""
        if prompt.done:
            return
        evidence = await self._evidence(prompt, outcome)
        async with self._lock:
            attempt = self.watches.attempt_of(prompt)
            if prompt.done or attempt is None:
                return
            prompt.done = True
            if evidence is not None:
                await self._fail(prompt, evidence)
                return
            prompt.outputs, prompt.cached = outcome.outputs, outcome.cached
            await self._maybe_completed(prompt)

    async def _evidence(self, prompt: PromptWatch, outcome: Outcome) -> FailureEvidence | None:
        """The failure a finished prompt shows (None: it succeeded as expected)."""
        if outcome.kind == "error":
            return execution_error_evidence(outcome.data, self.version, self.device_type)
        if outcome.kind == "interrupted":
            return await self._interrupted(prompt, outcome)
        if missing := missing_outputs(prompt.output_nodes, outcome.outputs):
            return observation_evidence(
                "output_missing",
                f"output nodes produced nothing: {', '.join(missing)}",
                version=self.version,
            )
        return None

    async def _interrupted(self, prompt: PromptWatch, outcome: Outcome) -> FailureEvidence:
        ours = prompt.interrupted_by_us or prompt.prompt_id in self.watches.interrupted
        if not ours:
            # our consumer may lag behind the websocket: the stream decides (CANCELLED vs
            # INTERRUPTED must never be confused)
            ours = await self.ledger.interrupt_sent(prompt.job_id, prompt.prompt_id)
        return observation_evidence(
            "interrupted",
            "execution was interrupted" + (" at our request" if ours else " by someone else"),
            node_id=outcome.data.get("node_id"),
            node_type=outcome.data.get("node_type"),
            interrupted_by_us=ours,
            version=self.version,
        )

    async def _maybe_completed(self, prompt: PromptWatch) -> None:
        attempt = self.watches.attempt_of(prompt)
        if attempt is None or not all(p.done for p in attempt.prompts.values()):
            return
        outputs = {
            f"{p.part}:{n}" if len(attempt.prompts) > 1 else n: files
            for p in attempt.prompts.values()
            for n, files in p.outputs.items()
        }
        cached = sorted({n for p in attempt.prompts.values() for n in p.cached})
        duration = time.monotonic() - min(p.dispatched_at for p in attempt.prompts.values())
        try:
            await self.out.completed(attempt, outputs, cached, max(duration, 0.0))
        except BusUnavailableError as exc:
            prompt.done = False
            log.warning("publish.deferred", prompt_id=prompt.prompt_id, error=str(exc))
            return
        self.watches.apply_finished(attempt.job_id, attempt.attempt)

    async def _fail(self, prompt: PromptWatch, evidence: Any) -> None:
        attempt = self.watches.attempt_of(prompt)
        cause = attempt.causation_id if attempt else prompt.prompt_id
        try:
            await self.out.failed(prompt, cause, evidence)
        except BusUnavailableError as exc:
            # not reported yet: the next reconcile or check tries again
            prompt.done = False
            log.warning("publish.deferred", prompt_id=prompt.prompt_id, error=str(exc))
            return
        self.watches.apply_finished(prompt.job_id, prompt.attempt)
        log.info(
            "job.failed",
            job_id=prompt.job_id,
            surface=evidence.surface,
            observation=evidence.observation,
            backend=self.ref.id,
        )

    async def reconcile(self) -> None:
        """Catch up from /history and /queue: nothing finished may go unreported."""
        prompts = self.watches.on_backend(self.ref.id)
        if not prompts:
            return
        try:
            running, pending = await self.reader.queue()
            if running != self.last_running:
                self.last_running = running
                self._moved()
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
        """Reconnect when ComfyUI runs our prompt but our socket heard nothing of it.

        A socket opened with our clientId before the old one closed is left deaf by ComfyUI
        (API.md §7); a fresh connection gets the running node again ("executing" without a
        prompt id), so a stall can then be told from a dead worker.
        """
        now = time.monotonic()
        deaf = [
            p
            for p in prompts
            if p.listed_running and not p.running and now - p.dispatched_at > DEAF_AFTER_S
        ]
        if deaf and self._ws is not None and now - self._connected_at > DEAF_AFTER_S:
            log.warning("ws.deaf_reconnect", backend=self.ref.id, prompt_id=deaf[0].prompt_id)
            await self._ws.close()

    async def _maybe_lost(self, prompt: PromptWatch) -> None:
        """Neither queued, running nor finished: lost, once the grace after dispatch is over.

        Raises:
            BackendDownError: /history could not be read (then nothing is concluded).
        """
        if time.monotonic() - prompt.dispatched_at <= self.lost_grace_s:
            return
        # re-check history: it may have finished between our two reads
        if not await self._finish(prompt):
            await self._observe(prompt, Observation("prompt_lost", LOST))

    async def check(self, now_wall: float) -> None:
        """Deadline, stall and wedge checks of our prompts on this backend."""
        now = time.monotonic()
        down = 0.0 if self.down_since is None else now - self.down_since
        pulse = BackendPulse(
            self.connected,
            now - self.last_activity,
            self.wedge_window_s,
            down,
            self.unreachable_grace_s,
        )
        for prompt in self.watches.on_backend(self.ref.id):
            found = observe(prompt, pulse, now, now_wall)
            if found is not None:
                await self._observe(prompt, found)

    async def _observe(self, prompt: PromptWatch, found: Observation) -> None:
        node_type = prompt.node_type or await self._node_type(prompt)
        async with self._lock:
            if prompt.done:
                return
            prompt.done = True
            await self._fail(
                prompt,
                observation_evidence(
                    found.kind,
                    found.message,
                    node_id=prompt.node,
                    node_type=node_type,
                    version=self.version,
                ),
            )

    async def _node_type(self, prompt: PromptWatch) -> str | None:
        """The class of the node a running prompt is at (ComfyUI's events do not say)."""
        if prompt.node is None:
            return None
        try:
            return await self.reader.running_class(prompt.prompt_id, prompt.node)
        except BackendDownError:
            return None
