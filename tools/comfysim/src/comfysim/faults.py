"""Active faults: which prompt and which node each one hits, and how many times it has left."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from comfysim.spec import FaultSpec

SAMPLER_CLASSES: Final = frozenset(
    {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
)
NODE_KINDS: Final = frozenset(
    {
        "stall",
        "crash",
        "ws_drop",
        "disk_full",
        "corrupt_model",
        "device_fault",
        "oom",
        "host_oom",
        "node_error",
        "interrupt",
    }
)
"""Faults that fire inside one node of a running prompt."""
_SAMPLER_FIRST: Final = frozenset({"stall", "crash", "ws_drop", "device_fault", "oom", "interrupt"})

ModelValues = Callable[[str, dict[str, Any]], list[str]]
"""(class_type, inputs) → the model file names a node loads."""


def is_sampler(class_type: str) -> bool:
    """Whether a class is a sampler (reports per-step progress)."""
    return class_type in SAMPLER_CLASSES


@dataclass
class ActiveFault:
    """A fault with the number of times it still fires (-1 = forever)."""

    spec: FaultSpec
    remaining: int
    fired: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form for GET /sim/faults."""
        return {**self.spec.to_dict(), "remaining": self.remaining, "fired": self.fired}


def prompt_matches(
    match: dict[str, Any], prompt_id: str, prompt: dict[str, Any], models: ModelValues
) -> bool:
    """Whether a prompt satisfies a fault's `match` (every given key must hold)."""
    nodes = [n for n in prompt.values() if isinstance(n, dict)]
    if "prompt_id" in match and match["prompt_id"] != prompt_id:
        return False
    if "class_type" in match and not any(n.get("class_type") == match["class_type"] for n in nodes):
        return False
    if "filename_prefix_contains" in match:
        wanted = match["filename_prefix_contains"]
        inputs = [n.get("inputs", {}) for n in nodes]
        prefixes = [str(i["filename_prefix"]) for i in inputs if "filename_prefix" in i]
        if not any(wanted in prefix for prefix in prefixes):
            return False
    if "ckpt_contains" in match:
        names = [m for n in nodes for m in models(str(n.get("class_type")), n.get("inputs", {}))]
        if not any(match["ckpt_contains"] in name for name in names):
            return False
    return True


class FaultBook:
    """The backend's faults, in the order they were added, and a log of every firing."""

    def __init__(self) -> None:
        self.active: list[ActiveFault] = []
        self.fired: list[dict[str, Any]] = []

    def add(self, spec: FaultSpec) -> ActiveFault:
        """Arm a fault."""
        fault = ActiveFault(spec, spec.times)
        self.active.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault."""
        self.active.clear()

    def listing(self) -> list[dict[str, Any]]:
        """GET /sim/faults."""
        return [fault.to_dict() for fault in self.active]

    def of_kind(self, *kinds: str) -> list[ActiveFault]:
        """Armed faults of these kinds, oldest first."""
        return [f for f in self.active if f.spec.kind in kinds and f.remaining != 0]

    def fire(self, fault: ActiveFault, **where: Any) -> None:
        """Count one firing; a fault that has no times left is disarmed."""
        fault.fired += 1
        if fault.remaining > 0:
            fault.remaining -= 1
        if fault.remaining == 0 and fault in self.active:
            self.active.remove(fault)
        self.fired.append({"kind": fault.spec.kind, "at": time.time(), **where})

    def take(
        self, kind: str, prompt_id: str, prompt: dict[str, Any], models: ModelValues
    ) -> ActiveFault | None:
        """Fire the first armed fault of `kind` whose match accepts this prompt."""
        for fault in self.of_kind(kind):
            if prompt_matches(fault.spec.match, prompt_id, prompt, models):
                self.fire(fault, prompt_id=prompt_id)
                return fault
        return None


def node_targets(
    fault: ActiveFault,
    to_run: Iterable[str],
    prompt: dict[str, Any],
    is_output: Callable[[str], bool],
    models: ModelValues,
) -> set[str]:
    """The nodes of this run a node-level fault may fire in (it fires in the first one reached)."""
    candidates = list(to_run)
    spec = fault.spec

    def class_of(node_id: str) -> str:
        return str(prompt[node_id].get("class_type"))

    if "class_type" in spec.match:
        return {n for n in candidates if class_of(n) == spec.match["class_type"]}
    if spec.kind == "corrupt_model":
        wanted = spec.match.get("ckpt_contains", "")
        return {
            n
            for n in candidates
            if any(wanted in m for m in models(class_of(n), prompt[n]["inputs"]))
        }
    preferred: set[str] = set()
    if spec.kind in _SAMPLER_FIRST:
        preferred = {n for n in candidates if is_sampler(class_of(n))}
    elif spec.kind == "disk_full":
        savers = {n for n in candidates if is_output(n) and class_of(n).startswith("Save")}
        preferred = savers or {n for n in candidates if is_output(n)}
    return preferred or set(candidates)


@dataclass
class FaultPlan:
    """The node-level faults armed for one run, each with the nodes it may fire in."""

    targets: list[tuple[ActiveFault, set[str]]] = field(default_factory=list)

    def fault_for(self, node_id: str) -> ActiveFault | None:
        """The fault to fire when `node_id` starts (each fires at most once per run)."""
        for index, (fault, nodes) in enumerate(self.targets):
            if node_id in nodes and fault.remaining != 0:
                del self.targets[index]
                return fault
        return None
