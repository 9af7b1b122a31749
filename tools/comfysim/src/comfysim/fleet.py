"""A fleet of simulated backends whose faults follow a job, not a backend.

Campaigns arm one fault per job, matched by a marker in the job's `filename_prefix`, on every
backend at once, with a scope that says how it behaves wherever the job goes:

- `once`: it fires the first time the job meets it, on whichever backend, then never again
  (a transient fault: a one-off OOM, a crash, a stall, an HTTP 500);
- `backend`: it fires every time on the first backend it fired on, never on the others
  (something wrong with that machine: a corrupt file, a full disk, a faulty GPU);
- `always`: it fires every time everywhere (the job itself is broken).

The fleet also counts, per marker, every POST /prompt the backends received (accepted,
rejected by validation, or answered by an injected HTTP 500 / reset): the dispatches a client
made, as the servers saw them. GPU time is in each backend's `ledger`.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Final

from comfysim.accounting import RunRecord
from comfysim.backend import SimBackend
from comfysim.cluster import SimCluster
from comfysim.faults import ActiveFault, FaultBook
from comfysim.spec import FaultSpec, SimBackendSpec
from comfysim.validation import Verdict

SCOPES: Final = ("once", "backend", "always")
REQUEST_KINDS: Final = frozenset({"http500", "reset"})


def markers_in(prompt: Any, pattern: re.Pattern[str]) -> set[str]:
    """The markers found in a prompt's `filename_prefix` inputs."""
    found: set[str] = set()
    if not isinstance(prompt, dict):
        return found
    for node in prompt.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if isinstance(inputs, dict) and isinstance(inputs.get("filename_prefix"), str):
            found.update(pattern.findall(inputs["filename_prefix"]))
    return found


@dataclass
class _Armed:
    """One job fault armed on every backend: the copies, its scope, where it fired first."""

    scope: str
    copies: dict[str, ActiveFault]
    fired_on: str | None = None


class FleetFaultBook(FaultBook):
    """A backend's fault book that tells its fleet whenever a fault fires."""

    def __init__(self, fleet: SimFleet, backend_id: str) -> None:
        super().__init__()
        self.fleet = fleet
        self.backend_id = backend_id

    def fire(self, fault: ActiveFault, **where: Any) -> None:
        """Count the firing here, then let the fleet apply the fault's scope elsewhere."""
        super().fire(fault, **where)
        self.fleet.fired(self.backend_id, fault, where)


class FleetBackend(SimBackend):
    """A SimBackend that reports its POST /prompt calls to its fleet."""

    def __init__(self, spec: SimBackendSpec, fleet: SimFleet) -> None:
        super().__init__(spec)
        self.fleet = fleet
        self.faults = FleetFaultBook(fleet, spec.id)

    def validate(self, prompt_id: str, prompt: Any, targets: Collection[str] | None) -> Verdict:
        """Count the dispatch for its markers, then validate as any backend does."""
        self.fleet.count_dispatch(prompt)
        return super().validate(prompt_id, prompt, targets)


class SimFleet(SimCluster):
    """A SimCluster of FleetBackends with job-scoped faults and per-job dispatch counts."""

    def __init__(self, specs: Iterable[SimBackendSpec], marker: str = r"cmp\d{4}x") -> None:
        specs = list(specs)
        super().__init__(specs)
        self.pattern = re.compile(marker)
        self._backends = {spec.id: FleetBackend(spec, self) for spec in specs}
        self.dispatches: collections.Counter[str] = collections.Counter()
        self._armed: dict[int, _Armed] = {}

    def arm(self, fault: FaultSpec, scope: str) -> None:
        """Arm `fault` on every backend with a scope (`once`, `backend` or `always`)."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; known: {list(SCOPES)}")
        times = 1 if scope == "once" else -1
        armed = _Armed(scope, {})
        for backend in self.backends():
            copy = FaultSpec(fault.kind, times, dict(fault.match), dict(fault.params))
            active = backend.faults.add(copy)
            armed.copies[backend.id] = active
            self._armed[id(active)] = armed

    def fired(self, backend_id: str, fault: ActiveFault, where: dict[str, Any]) -> None:
        """Apply a fault's scope after it fired on `backend_id`; count request-level ones."""
        if fault.spec.kind in REQUEST_KINDS and where.get("path") == "/prompt":
            self.dispatches.update(self.pattern.findall(str(fault.spec.match)))
        armed = self._armed.get(id(fault))
        if armed is None or armed.scope == "always" or armed.fired_on is not None:
            return
        armed.fired_on = backend_id
        for other, copy in armed.copies.items():
            if other != backend_id:
                self._disarm(other, copy)

    def count_dispatch(self, prompt: Any) -> None:
        """One POST /prompt that reached validation."""
        self.dispatches.update(markers_in(prompt, self.pattern))

    def records(self) -> list[RunRecord]:
        """Every prompt run on every backend, in start order."""
        runs = [r for backend in self.backends() for r in backend.ledger.records]
        return sorted(runs, key=lambda r: r.started)

    def _disarm(self, backend_id: str, fault: ActiveFault) -> None:
        book = self.backend(backend_id).faults
        if fault in book.active:
            book.active.remove(fault)
        fault.remaining = 0
