"""The fleet page's data: the submitter's backend registry (health, breaker, queue — the
same view dispatch uses), each backend's last health record and GPU sample, and the last
failures met on it (from the job read models)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import msgspec
from nats.js.errors import KeyNotFoundError, NotFoundError

from contracts import BackendHealth, GpuSampled, codec, subjects
from contracts.errors import PermanentError
from submitter.api.deps import ApiDeps

LAST_FAILURES: Final = 5
T = TypeVar("T")
GIB: Final = 2**30


@dataclass
class FleetRow:
    """One backend as the console shows it."""

    id: str
    reachable: bool
    breaker: str
    breaker_reason: str
    open_until: datetime | None
    queue: int
    version: str | None
    device: str | None
    health: BackendHealth | None = None
    gpu: GpuSampled | None = None
    failures: list[tuple[datetime, str, str, str]] = field(default_factory=list)

    @property
    def takes_work(self) -> bool:
        """Reachable and its breaker not open."""
        return self.reachable and self.breaker != "open"

    @property
    def quarantined(self) -> bool:
        """Open because of a quarantine (a wedged or restarted worker)."""
        return self.breaker == "open" and "quarantin" in self.breaker_reason.lower()


def gib(value: int | None) -> str:
    """Bytes as GiB with one decimal, or a dash."""
    return "—" if value is None else f"{value / GIB:.1f}"


async def context(deps: ApiDeps) -> dict[str, Any]:
    """The rows, how many take work, and when this was read."""
    now = time.time()
    rows = []
    for view in sorted(deps.registry.views.values(), key=lambda v: v.id):
        until = view.open_until
        row = FleetRow(
            id=view.id,
            reachable=view.reachable,
            breaker=view.breaker_at(now),
            breaker_reason=view.breaker_reason,
            open_until=datetime.fromtimestamp(until, UTC) if until else None,
            queue=view.load(now),
            version=view.version,
            device=view.device_type,
        )
        row.health = await _health(deps, view.id)
        row.gpu = await _gpu(deps, view.id)
        rows.append(row)
    await _failures(deps, {r.id: r for r in rows})
    return {
        "backends": rows,
        "usable": sum(1 for r in rows if r.takes_work),
        "read_at": datetime.now(UTC),
        "gib": gib,
    }


async def _health(deps: ApiDeps, backend_id: str) -> BackendHealth | None:
    """The monitor's last health record of the backend (KV ``<id>.health``)."""
    kv = await deps.client.bus.kv(subjects.KV_BACKENDS)
    try:
        entry = await kv.get(f"{backend_id}.health")
    except KeyNotFoundError:
        return None
    return _decoded(entry.value, BackendHealth)


async def _gpu(deps: ApiDeps, backend_id: str) -> GpuSampled | None:
    """The backend's last GPU sample in the telemetry stream."""
    subject = f"{subjects.GPU_SAMPLE}.{backend_id}"
    try:
        msg = await deps.client.bus.js.get_last_msg(subjects.TELEMETRY_STREAM, subject)
    except NotFoundError:
        return None
    return _decoded(msg.data, GpuSampled)


def _decoded(data: bytes | None, kind: type[T]) -> T | None:
    try:
        event = codec.decode(data or b"")
    except (PermanentError, msgspec.DecodeError):
        return None
    return event if isinstance(event, kind) else None


async def _failures(deps: ApiDeps, rows: dict[str, FleetRow]) -> None:
    """The last failures met on each backend: when, job, class, what recovery did."""
    for view in await deps.views():
        for step in view.recovery_history:
            row = rows.get(step.backend_id or "")
            if row is not None and step.failure_class:
                row.failures.append((step.at, view.job_id, step.failure_class, step.strategy))
    for row in rows.values():
        row.failures = sorted(row.failures, reverse=True)[:LAST_FAILURES]
