"""Choosing a backend for a job (pure): capable, healthy, least loaded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

MODEL_SUFFIXES: Final = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")


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
    quarantined: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Constraints:
    """What a decision asks of the backend."""

    hint: str | None = None
    exclude: frozenset[str] = frozenset()
    version_other_than: str | None = None
    device_other_than: str | None = None


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


def _usable(view: BackendView, c: Constraints) -> bool:
    if view.id in c.exclude or view.quarantined or view.breaker == "open":
        return False
    if not view.reachable:
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
    views: Iterable[BackendView], workflows: list[dict[str, Any]], c: Constraints
) -> BackendView | None:
    """The backend to post to, or None when no usable backend exists.

    The hint wins when usable and capable. Otherwise capable backends come first, least
    queued, then most free VRAM. When usable backends exist but none is known to be
    capable, the least loaded is returned anyway: ComfyUI's own validation then reports
    exactly what is missing, which recovery can act on.
    """
    usable = [v for v in views if _usable(v, c)]
    if not usable:
        return None
    nodes, models = required_nodes(workflows), required_models(workflows)
    capable = [v for v in usable if _capable(v, nodes, models)]
    for view in capable:
        if view.id == c.hint:
            return view
    pool = capable or usable
    return min(pool, key=lambda v: (v.queue, -(v.vram_free or 0), v.id))
