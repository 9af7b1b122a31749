"""Choosing a backend for a job (pure): capable, usable, least loaded.

Usability has one source of truth: the breaker recovery keeps in KV (state and
``open_until``), read here at the time of choosing: an open breaker whose time is up is
half-open and takes one probe dispatch at a time. Load is the last queue length seen plus
the dispatches this instance made since that reading (a burst spreads instead of landing
on the backend that looked idle a few seconds ago).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

MODEL_SUFFIXES: Final = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
INFLIGHT_TTL_S: Final = 60.0
"""A local dispatch count older than this is dropped even without a fresh queue reading."""
PROBE_TIMEOUT_S: Final = 120.0
"""A half-open backend takes another probe when the last one gave no verdict for this long."""


@dataclass
class BackendView:
    """What the submitter knows of one backend (from the registry in KV)."""

    id: str
    reachable: bool = True
    queue: int = 0
    vram_free: int | None = None
    node_classes: frozenset[str] | None = None
    models: frozenset[str] | None = None
    version: str | None = None
    device_type: str | None = None
    breaker: str = "closed"
    open_until: float | None = None
    breaker_reason: str = ""
    queue_seen_at: float = 0.0
    inflight: list[float] = field(default_factory=list)
    probe_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def breaker_at(self, now: float) -> str:
        """The breaker's state at `now` (an open one whose time is up is half-open)."""
        if self.breaker == "open" and self.open_until is not None and now >= self.open_until:
            return "half_open"
        return self.breaker

    def load(self, now: float) -> int:
        """Queue length seen, plus our dispatches since that reading (recent ones only)."""
        since = max(self.queue_seen_at, now - INFLIGHT_TTL_S)
        return self.queue + sum(1 for t in self.inflight if t > since)

    def saw_queue(self, queue: int, now: float) -> None:
        """A fresh queue reading: it includes our earlier dispatches."""
        self.queue, self.queue_seen_at = queue, now
        self.inflight = [t for t in self.inflight if t > now]

    def dispatched(self, now: float) -> None:
        """Count one dispatch to this backend (and the probe, when half-open)."""
        self.inflight = [t for t in self.inflight if t > now - INFLIGHT_TTL_S] + [now]
        if self.breaker_at(now) == "half_open":
            self.probe_at = now

    def saw_breaker(self, state: str, open_until: float | None, reason: str = "") -> None:
        """A new breaker value from KV: a verdict on any probe in flight."""
        self.breaker, self.open_until, self.breaker_reason = state, open_until, reason
        self.probe_at = None

    def usable(self, now: float) -> bool:
        """Reachable, breaker closed, or half-open with no probe in flight."""
        if not self.reachable:
            return False
        state = self.breaker_at(now)
        if state == "half_open":
            return self.probe_at is None or now - self.probe_at > PROBE_TIMEOUT_S
        return state != "open"


@dataclass(frozen=True)
class Constraints:
    """What a decision asks of the backend."""

    hint: str | None = None
    exclude: frozenset[str] = frozenset()
    version_other_than: str | None = None
    device_other_than: str | None = None
    max_queue: int = 0
    """A backend with this many prompts queued or running takes no more (0: no limit):
    jobs wait with us, durably, instead of in a queue a crash or a wedge would lose."""


def required_nodes(workflows: Iterable[dict[str, Any]]) -> set[str]:
    """Every node class the graphs use."""
    return {str(n.get("class_type")) for w in workflows for n in w.values()}


def required_models(workflows: Iterable[dict[str, Any]]) -> set[str]:
    """Every literal input value that names a model file."""
    found: set[str] = set()
    for workflow in workflows:
        for node in workflow.values():
            for value in (node.get("inputs") or {}).values():
                if isinstance(value, str) and value.lower().endswith(MODEL_SUFFIXES):
                    found.add(value)
    return found


def _usable(view: BackendView, c: Constraints, now: float) -> bool:
    if view.id in c.exclude or not view.usable(now) or full(view, c, now):
        return False
    if c.version_other_than and view.version == c.version_other_than:
        return False
    return not (c.device_other_than and view.device_type == c.device_other_than)


def _capable(view: BackendView, nodes: set[str], models: set[str]) -> bool:
    if view.node_classes is not None and not nodes <= view.node_classes:
        return False
    if view.models is None:
        return True
    return all(m in view.models or m.replace("\\", "/") in view.models for m in models)


def choose_backend(
    views: Iterable[BackendView], workflows: list[dict[str, Any]], c: Constraints, now: float
) -> BackendView | None:
    """The backend to post to, or None when no usable backend exists.

    The hint wins when usable and capable. Otherwise capable backends come first, least
    loaded (`BackendView.load`), then most free VRAM. When usable backends exist but none
    is known to be capable, the least loaded is returned anyway: ComfyUI's own validation
    then reports exactly what is missing, which recovery can act on.
    """
    usable = [v for v in views if _usable(v, c, now)]
    if not usable:
        return None
    nodes, models = required_nodes(workflows), required_models(workflows)
    capable = [v for v in usable if _capable(v, nodes, models)]
    for view in capable:
        if view.id == c.hint:
            return view
    pool = capable or usable
    return min(pool, key=lambda v: (v.load(now), -(v.vram_free or 0), v.id))


def full(view: BackendView, c: Constraints, now: float) -> bool:
    """Whether `view` already holds as many of our prompts as it may (`max_queue`)."""
    return c.max_queue > 0 and view.load(now) >= c.max_queue


def only_full(views: Iterable[BackendView], c: Constraints, now: float) -> bool:
    """Whether some backend would take the job but for its queue being full."""
    return any(full(v, c, now) and _usable(v, replace(c, max_queue=0), now) for v in views)


def why_none(views: Iterable[BackendView], c: Constraints, now: float) -> str:
    """Why no backend can take a job now, backend by backend."""
    reasons = []
    for view in views:
        if view.id in c.exclude:
            reasons.append(f"{view.id}: excluded for this job")
        elif not view.reachable:
            reasons.append(f"{view.id}: unreachable")
        elif view.breaker_at(now) == "open":
            reasons.append(f"{view.id}: breaker open ({view.breaker_reason or 'failures'})")
        elif view.breaker_at(now) == "half_open" and not view.usable(now):
            reasons.append(f"{view.id}: half-open, a probe is running")
        elif full(view, c, now):
            reasons.append(f"{view.id}: busy ({view.load(now)} prompts queued or running)")
        else:
            reasons.append(f"{view.id}: does not meet the job's version/device constraint")
    return "; ".join(reasons) or "no backend configured"
