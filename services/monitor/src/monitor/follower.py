"""Follows one backend: its websocket, reconciliation from /history and /queue, and the
stall / timeout / lost / wedged checks of our prompts there."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from contracts.backends import BackendRef, monitor_client_id
from contracts.errors import BusUnavailableError
from monitor.adapters.comfy import ComfyReader
from monitor.errors import BackendDownError
from monitor.publisher import Publisher
from monitor.translate import (
    Outcome,
    execution_error_evidence,
    missing_outputs,
    observation_evidence,
    outcome_of,
)
from monitor.watch import PromptWatch, WatchSet

log = structlog.get_logger(__name__)
WS_ERRORS = (OSError, asyncio.TimeoutError, WebSocketException)


class Follower:
    """One backend's websocket and checks. `version`/`device_type` come from health."""

    def __init__(
        self,
        ref: BackendRef,
        reader: ComfyReader,
        watches: WatchSet,
        out: Publisher,
        *,
        progress_per_s: float,
        lost_grace_s: float,
        wedge_window_s: float,
    ) -> None:
        self.ref = ref
        self.reader = reader
        self.watches = watches
        self.out = out
        self.min_progress_gap = 1.0 / progress_per_s if progress_per_s > 0 else 0.0
        self.lost_grace_s = lost_grace_s
        self.wedge_window_s = wedge_window_s
        self.version: str | None = None
        self.device_type: str | None = None
        self.connected = False
        self.tried = False
        self.last_activity = time.monotonic()
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        """Keep a websocket open (closing the old one before reconnecting), forever."""
        url = f"{self.ref.ws_url}/ws?clientId={monitor_client_id(self.ref.id)}"
        backoff = 0.2
        while True:
            try:
                async with ws_connect(url, max_size=None, open_timeout=5) as ws:
                    self.connected, backoff = True, 0.2
                    log.info("ws.connected", backend=self.ref.id)
                    await self.reconcile()
                    self.tried = True
                    async for frame in ws:
                        if isinstance(frame, str):
                            await self.on_message(json.loads(frame))
            except WS_ERRORS as exc:
                log.info("ws.closed", backend=self.ref.id, error=repr(exc)[:200])
            self.connected, self.tried = False, True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def on_message(self, message: dict[str, Any]) -> None:
        """Handle one websocket text message."""
        kind, data = message.get("type"), message.get("data") or {}
        if kind in ("execution_start", "executing", "progress", "execution_cached"):
            self.last_activity = time.monotonic()
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
        """Read the prompt's history entry and publish its outcome; False if not final yet."""
        try:
            entry = await self.reader.history(prompt.prompt_id)
        except BackendDownError:
            return False
        outcome = outcome_of(entry) if entry else None
        if outcome is None:
            return False
        await self.settle(prompt, outcome)
        return True

    async def settle(self, prompt: PromptWatch, outcome: Outcome) -> None:
        """Publish what a finished prompt means for its attempt."""
        async with self._lock:
            attempt = self.watches.attempt_of(prompt)
            if prompt.done or attempt is None:
                return
            prompt.done = True
            if outcome.kind == "error":
                ev = execution_error_evidence(outcome.data, self.version, self.device_type)
                await self._fail(prompt, ev)
            elif outcome.kind == "interrupted":
                await self._fail(prompt, self._interrupted(prompt, outcome))
            elif missing := missing_outputs(prompt.output_nodes, outcome.outputs):
                await self._fail(
                    prompt,
                    observation_evidence(
                        "output_missing",
                        f"output nodes produced nothing: {', '.join(missing)}",
                        version=self.version,
                    ),
                )
            else:
                prompt.outputs, prompt.cached = outcome.outputs, outcome.cached
                await self._maybe_completed(prompt)

    def _interrupted(self, prompt: PromptWatch, outcome: Outcome) -> Any:
        ours = prompt.interrupted_by_us or prompt.prompt_id in self.watches.interrupted
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
            for prompt in prompts:
                if await self.finish(prompt):
                    continue
                await self._absent_or_running(prompt, running, pending)
        except BackendDownError as exc:
            log.info("reconcile.backend_down", backend=self.ref.id, error=str(exc))

    async def _absent_or_running(
        self, prompt: PromptWatch, running: list[str], pending: list[str]
    ) -> None:
        if prompt.prompt_id in running:
            prompt.running = True
            return
        absent = prompt.prompt_id not in pending
        if not absent or time.monotonic() - prompt.dispatched_at <= self.lost_grace_s:
            return
        # re-check history: it may have finished between our two reads
        if await self.finish(prompt):
            return
        prompt.done = True
        lost = "the backend lost the prompt (restarted?): not queued, running or in history"
        await self._fail(prompt, observation_evidence("prompt_lost", lost, version=self.version))

    async def check(self, now_wall: float) -> None:
        """Deadline, stall and wedge checks of our prompts on this backend."""
        now = time.monotonic()
        for prompt in self.watches.on_backend(self.ref.id):
            if prompt.deadline_at is not None and now_wall > prompt.deadline_at:
                await self._observe(prompt, "timeout", "the job passed its deadline")
            elif prompt.running and now - prompt.last_progress_at > prompt.stall_window_s:
                await self._observe(
                    prompt,
                    "stalled",
                    f"no progress for {prompt.stall_window_s:.0f}s while running",
                )
            elif (
                not prompt.running
                and now - self.last_activity > self.wedge_window_s
                and (now - prompt.dispatched_at > self.wedge_window_s)
            ):
                await self._observe(
                    prompt,
                    "wedged",
                    f"the backend's queue has not moved for {self.wedge_window_s:.0f}s",
                )

    async def _observe(self, prompt: PromptWatch, observation: str, message: str) -> None:
        async with self._lock:
            if prompt.done:
                return
            prompt.done = True
            await self._fail(
                prompt,
                observation_evidence(
                    observation,
                    message,
                    node_id=prompt.node,
                    node_type=prompt.node_type,
                    version=self.version,
                ),
            )
