"""Acting on recovery's restart requests: which to act on (pure `RestartGate`), then the
configured hook, or, with none, a notice the operator sees (event, metric, registry)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec
import structlog
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from prometheus_client import Counter

from contracts import subjects
from contracts.backend import BackendHealth
from contracts.backends import BackendRef
from contracts.codec import AnyEvent
from contracts.envelope import CONTROL_JOB_ID, new_event_id, utcnow
from contracts.recovery import QuarantineBackend, RecoveryDecided
from cr_client.nats_errors import translated
from cr_runtime.consumer import Delivery
from monitor.errors import RestartFailedError
from monitor.hooks import RestartHook, RestartRequest
from monitor.publisher import Publisher

log = structlog.get_logger(__name__)
RESTARTS: Final = Counter(
    "cr_backend_restarts_total",
    "Backend restarts recovery asked for, by what became of them",
    ["backend", "hook", "outcome"],
)
"""outcome: restarted, failed, no_hook (nothing configured), skipped (cooldown or stale)."""
KV_KIND: Final = "restart"
"""Registry key ``<backend>.restart``: the last restart request and what became of it."""


@dataclass
class RestartGate:
    """Which restart requests to act on: not stale, not asked before the backend's last
    restart (the same incident, reported by several jobs), and not one backend twice within
    a short cooldown (a restart loop). A backend that wedges again after a restart is a new
    incident and is restarted again.

    Times are wall-clock seconds (a request's time is its event's ``occurred_at``).
    """

    cooldown_s: float
    max_age_s: float
    last: dict[str, float] = field(default_factory=dict)

    def refusal(self, backend_id: str, requested_at: float, now: float) -> str | None:
        """Why this request is not acted on, or None to act on it."""
        if now - requested_at > self.max_age_s:
            return f"the request is {now - requested_at:.0f}s old (stale)"
        previous = self.last.get(backend_id)
        if previous is None:
            return None
        if requested_at <= previous:
            return f"asked before the restart {now - previous:.0f}s ago (that incident is handled)"
        if now - previous < self.cooldown_s:
            return f"restarted {now - previous:.0f}s ago (cooldown {self.cooldown_s:.0f}s)"
        return None

    def acted(self, backend_id: str, now: float) -> None:
        """A restart of `backend_id` was tried at `now` (successful or not)."""
        self.last[backend_id] = max(now, self.last.get(backend_id, now))


def _acted_at(record: bytes) -> float:
    """When a registry record's restart was taken (0.0 for a record without the time)."""
    try:
        value = msgspec.json.decode(record).get("acted_at", 0.0)
    except (msgspec.DecodeError, AttributeError):
        return 0.0
    return float(value) if isinstance(value, int | float) else 0.0


HookFor = Callable[[BackendRef], Awaitable[RestartHook | None]]
"""The hook for a backend (None: no hook is configured for it)."""


class Restarter:
    """Consumes recovery decisions; restarts the backends they ask to restart."""

    def __init__(
        self,
        refs: Mapping[str, BackendRef],
        hook_for: HookFor,
        gate: RestartGate,
        out: Publisher,
        wall: Callable[[], float] = time.time,
        last_health: Callable[[str], BackendHealth | None] = lambda _: None,
    ) -> None:
        self.refs = refs
        self.hook_for = hook_for
        self.gate = gate
        self.out = out
        self.wall = wall
        self.last_health = last_health

    async def on_event(self, event: AnyEvent, delivery: Delivery | None = None) -> None:
        """Act on every restart a decision asks for on one of our backends."""
        if not isinstance(event, RecoveryDecided):
            return
        for action in event.actions:
            ref = self.refs.get(getattr(action, "backend_id", ""))
            if isinstance(action, QuarantineBackend) and action.restart_requested and ref:
                request = RestartRequest(
                    ref.id, ref.url, action.reason, event.job_id, event.event_id
                )
                await self.request(request, event.occurred_at.timestamp())

    async def request(self, request: RestartRequest, requested_at: float) -> str:
        """Restart one backend unless the gate refuses or another instance took it; the
        outcome recorded."""
        now = self.wall()
        refusal = await self._claim(request, requested_at, now)
        if refusal is not None:
            log.info("restart.skipped", backend=request.backend_id, why=refusal)
            RESTARTS.labels(request.backend_id, "-", "skipped").inc()
            return "skipped"
        hook = await self.hook_for(self.refs[request.backend_id])
        if hook is None:
            await self._no_hook(request)
            return "no_hook"
        try:
            detail = await hook.restart(request)
        except RestartFailedError as exc:
            log.error("restart.failed", backend=request.backend_id, hook=hook.name, error=str(exc))
            await self._record(request, hook.name, "failed", str(exc))
            return "failed"
        log.warning("restart.done", backend=request.backend_id, hook=hook.name, detail=detail)
        await self._record(request, hook.name, "restarted", detail)
        await self.out.bus.publish(self._notice(request.backend_id, error=None, restarted=True))
        return "restarted"

    async def _claim(self, request: RestartRequest, requested_at: float, now: float) -> str | None:
        """Take this restart for this instance, or say why not.

        The registry key ``<backend>.restart`` is shared by every monitor instance: its
        last record (whichever instance wrote it) feeds the gate, and the claim is a
        compare-and-set on it. Decisions asking for a restart are spread over the
        instances, so without this each instance restarted the same wedged backend once,
        and the second restart lost every prompt queued on the fresh process.
        """
        key = f"{request.backend_id}.{KV_KIND}"
        with translated(f"read {key}"):
            kv = await self.out.bus.kv(subjects.KV_BACKENDS)
            try:
                entry: KeyValue.Entry | None = await kv.get(key)
            except KeyNotFoundError:
                entry = None
        if entry is not None and entry.value:
            self.gate.acted(request.backend_id, _acted_at(entry.value))
        refusal = self.gate.refusal(request.backend_id, requested_at, now)
        if refusal is not None:
            return refusal
        claim = self._entry(request, "-", "restarting", "", now)
        try:
            with translated(f"claim {key}"):
                if entry is None:
                    await kv.create(key, claim)
                else:
                    await kv.update(key, claim, last=entry.revision)
        except KeyWrongLastSequenceError:
            return "another monitor instance took this restart"
        self.gate.acted(request.backend_id, now)
        return None

    async def _no_hook(self, request: RestartRequest) -> None:
        """Nothing can restart it: say so where the operator looks (health event, KV)."""
        message = (
            f"restart requested ({request.reason}) but no restart hook is configured "
            "(CR_MONITOR_RESTART_HOOK): restart this backend by hand"
        )
        log.error("restart.no_hook", backend=request.backend_id, reason=request.reason)
        await self.out.bus.publish(self._notice(request.backend_id, error=message))
        await self._record(request, "none", "no_hook", message)

    def _notice(self, backend_id: str, error: str | None, restarted: bool = False) -> BackendHealth:
        """A health event about a restart (its last probe's figures, when there is one)."""
        last = self.last_health(backend_id)
        event_id, now, source = new_event_id(), utcnow(), self.out.source
        if last is not None:
            return msgspec.structs.replace(
                last,
                event_id=event_id,
                occurred_at=now,
                source=source,
                error=error,
                restarted=restarted,
            )
        return BackendHealth(
            event_id=event_id,
            job_id=CONTROL_JOB_ID,
            occurred_at=now,
            source=source,
            backend_id=backend_id,
            reachable=True,
            error=error,
            restarted=restarted,
        )

    async def _record(self, request: RestartRequest, hook: str, outcome: str, detail: str) -> None:
        """Count it, and keep it in the registry as ``<backend>.restart``."""
        RESTARTS.labels(request.backend_id, hook, outcome).inc()
        record = self._entry(request, hook, outcome, detail, self.gate.last[request.backend_id])
        kv = await self.out.bus.kv(subjects.KV_BACKENDS)
        await kv.put(f"{request.backend_id}.{KV_KIND}", record)

    @staticmethod
    def _entry(request: RestartRequest, hook: str, outcome: str, detail: str, at: float) -> bytes:
        """A registry record; ``acted_at`` is the wall time the restart was taken on."""
        return msgspec.json.encode(
            {
                "backend_id": request.backend_id,
                "outcome": outcome,
                "hook": hook,
                "reason": request.reason,
                "detail": detail[:500],
                "job_id": request.job_id,
                "decision_id": request.decision_id,
                "at": utcnow().isoformat(),
                "acted_at": at,
            }
        )
