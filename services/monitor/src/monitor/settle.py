"""What a finished or failed prompt means for its attempt, published once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from contracts.backend import BackendHealth
from contracts.backends import BackendRef
from contracts.errors import BusUnavailableError
from contracts.job import FailureEvidence
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.ledger import Ledger
from monitor.checks import Observation
from monitor.clock import Clock
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


@dataclass
class BackendInfo:
    """What health probes last said about a backend (copied into failure evidence)."""

    version: str | None = None
    device_type: str | None = None
    health: BackendHealth | None = None


@dataclass(eq=False)  # one per backend, compared by identity as before
class Settler:
    """Publishes the outcome of our prompts on one backend: once, whoever notices first."""

    ref: BackendRef
    reader: ComfyReader
    watches: WatchSet
    out: Publisher
    ledger: Ledger
    clock: Clock
    info: BackendInfo
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def finish(self, prompt: PromptWatch) -> bool:
        """Publish the outcome of a finished prompt; whether it has finished (False also when
        /history cannot be read: that is no answer).

        A publish that fails is retried by the next reconcile (the prompt stays watched).
        """
        try:
            return await self.finish_or_raise(prompt)
        except BackendDownError:
            return False

    async def finish_or_raise(self, prompt: PromptWatch) -> bool:
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

    async def observed(self, prompt: PromptWatch, found: Observation) -> None:
        """Report something the monitor saw itself (stalled, wedged, lost, …) as a failure."""
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
                    version=self.info.version,
                    queued=found.queued,
                ),
            )

    async def _evidence(self, prompt: PromptWatch, outcome: Outcome) -> FailureEvidence | None:
        """The failure a finished prompt shows (None: it succeeded as expected)."""
        if outcome.kind == "error":
            return execution_error_evidence(outcome.data, self.info.version, self.info.device_type)
        if outcome.kind == "interrupted":
            return await self._interrupted(prompt, outcome)
        if missing := missing_outputs(prompt.output_nodes, outcome.outputs):
            return observation_evidence(
                "output_missing",
                f"output nodes produced nothing: {', '.join(missing)}",
                version=self.info.version,
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
            version=self.info.version,
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
        started = min(p.dispatched_at for p in attempt.prompts.values())
        duration = self.clock.now() - started
        try:
            await self.out.completed(attempt, outputs, cached, max(duration, 0.0))
        except BusUnavailableError as exc:
            prompt.done = False
            log.warning("publish.deferred", prompt_id=prompt.prompt_id, error=str(exc))
            return
        self.watches.apply_finished(attempt.job_id, attempt.attempt)

    async def _fail(self, prompt: PromptWatch, evidence: FailureEvidence) -> None:
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

    async def _node_type(self, prompt: PromptWatch) -> str | None:
        """The class of the node a running prompt is at (ComfyUI's events do not say)."""
        if prompt.node is None:
            return None
        try:
            return await self.reader.running_class(prompt.prompt_id, prompt.node)
        except BackendDownError:
            return None
