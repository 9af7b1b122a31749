"""The inputs and the totals of a what-if replay (`recovery.replay`), pure.

`inventory_from` rebuilds the backends as recovery saw them at any past time from the
recorded telemetry (latest inventory, health and breaker state per backend at or before
that time). `summarize` adds up the jobs' comparisons.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from contracts.backend import BackendHealth, BackendInventory, BreakerChanged, BreakerState
from recovery.inventory import BackendView, Inventory
from recovery.replay import InventoryAt, JobReplay

Telemetry = BackendInventory | BackendHealth | BreakerChanged


class _Timeline:
    """One backend's telemetry of one kind, by time."""

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.events: list[Telemetry] = []

    def add(self, event: Telemetry) -> None:
        at = bisect.bisect_right(self.times, event.occurred_at)
        self.times.insert(at, event.occurred_at)
        self.events.insert(at, event)

    def at(self, when: datetime) -> Telemetry | None:
        index = bisect.bisect_right(self.times, when)
        return self.events[index - 1] if index else None


def inventory_from(telemetry: Iterable[Telemetry]) -> InventoryAt:
    """The backends at any time, from recorded telemetry (unknown before their first report)."""
    lines: dict[tuple[str, type], _Timeline] = defaultdict(_Timeline)
    for event in telemetry:
        lines[(event.backend_id, type(event))].add(event)
    backends = sorted({backend for backend, _ in lines})

    def at(when: datetime) -> Inventory:
        views = []
        for backend in backends:
            inventory = _get(lines, backend, BackendInventory, when)
            health = _get(lines, backend, BackendHealth, when)
            breaker = _get(lines, backend, BreakerChanged, when)
            if inventory is None and health is None and breaker is None:
                continue
            state = breaker.state if isinstance(breaker, BreakerChanged) else BreakerState.CLOSED
            views.append(
                BackendView.of(
                    backend,
                    inventory if isinstance(inventory, BackendInventory) else None,
                    health if isinstance(health, BackendHealth) else None,
                    state,
                )
            )
        return Inventory.of(views)

    return at


def _get(
    lines: dict[tuple[str, type], _Timeline], backend: str, kind: type, when: datetime
) -> Telemetry | None:
    line = lines.get((backend, kind))
    return line.at(when) if line is not None else None


def summarize(jobs: Sequence[JobReplay]) -> dict[str, Any]:
    """Totals: jobs per verdict, decisions changed per class (and how), attempts and
    GPU-seconds recorded against the replayed (low, high) estimates, how many recorded
    decisions the recorded policy reproduces, and the jobs that differ, each with its
    compared decisions."""
    verdicts: Counter[str] = Counter(job.verdict for job in jobs)
    by_class: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for c in job.compared:
            entry = by_class.setdefault(c.failure_class, {"compared": 0, "changed": 0, "how": {}})
            entry["compared"] += 1
            if c.changed:
                entry["changed"] += 1
                move = f"{_label(c.recorded, c.recorded_terminal)} -> "
                move += _label(c.replayed, c.replayed_terminal)
                entry["how"][move] = entry["how"].get(move, 0) + 1
    checks = [c.reproduced for job in jobs for c in job.compared if c.reproduced is not None]
    attempts = sum(j.attempts_recorded for j in jobs)
    low = sum(j.attempts_replayed[0] for j in jobs)
    high = sum(j.attempts_replayed[1] for j in jobs)
    gpu = sum(j.gpu_s_recorded for j in jobs)
    gpu_low = sum(j.gpu_s_replayed[0] for j in jobs)
    gpu_high = sum(j.gpu_s_replayed[1] for j in jobs)
    return {
        "jobs": {
            "replayed": len(jobs),
            **{v: verdicts.get(v, 0) for v in _VERDICTS},
        },
        "decisions": {
            "compared": sum(e["compared"] for e in by_class.values()),
            "changed": sum(e["changed"] for e in by_class.values()),
            "by_class": dict(sorted(by_class.items())),
            "reproduced": {"checked": len(checks), "same": sum(checks)},
        },
        "attempts": {"recorded": attempts, "replayed": [low, high]},
        "gpu_seconds": {
            "recorded": round(gpu, 3),
            "replayed": [round(gpu_low, 3), round(gpu_high, 3)],
        },
        "differing_jobs": [_job(j) for j in jobs if j.verdict != "unchanged"],
    }


_VERDICTS = ("unchanged", "changed", "saved", "aborted_earlier", "skipped")


def _label(strategy: str, terminal: bool) -> str:
    return strategy if not terminal or strategy in ("ABORT", "CANCEL") else f"{strategy}(end)"


def _job(job: JobReplay) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "verdict": job.verdict,
        "attempts": {"recorded": job.attempts_recorded, "replayed": list(job.attempts_replayed)},
        "gpu_seconds": {"recorded": job.gpu_s_recorded, "replayed": list(job.gpu_s_replayed)},
        "note": job.note,
        "decisions": [
            {
                "attempt": c.attempt,
                "failure_class": c.failure_class,
                "recorded": _label(c.recorded, c.recorded_terminal),
                "replayed": _label(c.replayed, c.replayed_terminal),
                "changed": c.changed,
                "reproduced": c.reproduced,
                "reason": c.replayed_reason,
            }
            for c in job.compared
        ],
    }
