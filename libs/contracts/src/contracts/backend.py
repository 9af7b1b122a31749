"""Backend telemetry (subjects ``backend.*.<backend_id>``)."""

from __future__ import annotations

import enum

import msgspec

from contracts import subjects
from contracts.envelope import Event


class BackendHealth(Event, frozen=True, kw_only=True, tag=subjects.BACKEND_HEALTH):
    """One health probe of a ComfyUI backend."""

    backend_id: str
    reachable: bool
    latency_ms: float | None = None
    queue_running: int = 0
    queue_pending: int = 0
    comfyui_version: str | None = None
    device_type: str | None = None
    vram_total: int | None = None
    vram_free: int | None = None
    error: str | None = None
    restarted: bool = False
    """The monitor has just restarted the backend (its restart hook succeeded): a fresh
    process, which recovery lets a probe judge at once instead of waiting out its breaker."""


class BackendInventory(Event, frozen=True, kw_only=True, tag=subjects.BACKEND_INVENTORY):
    """What a backend can run: node classes and model files per folder."""

    backend_id: str
    node_classes: list[str]
    models: dict[str, list[str]] = msgspec.field(default_factory=dict)
    comfyui_version: str | None = None
    device_name: str | None = None
    device_type: str | None = None
    vram_total: int | None = None
    digest: str = ""


class BreakerState(enum.StrEnum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerChanged(Event, frozen=True, kw_only=True, tag=subjects.BACKEND_BREAKER):
    """A backend's circuit breaker moved to another state."""

    backend_id: str
    state: BreakerState
    previous: BreakerState
    reason: str = ""
    failures_in_window: int = 0
