"""What a failure is about, in words a user can act on: the node, the model file (its
name only, never a backend path), the memory gap. No traceback, host or path."""

from __future__ import annotations

from contracts.taxonomy import FailureClass
from recovery.memory import OomReport, gib
from recovery.strategies.context import Context


def file_name(name: object) -> str:
    """A model's file name without any folder of the backend's file system."""
    return str(name).replace("\\", "/").rsplit("/", 1)[-1].strip()


def subject(ctx: Context) -> str:
    """The node, node class and model the failure names (empty when none)."""
    f = ctx.features
    evidence = ctx.failure.evidence
    node = ctx.failing_node
    node_type = f.get("node_type") or (evidence.node_type if evidence else None)
    parts = []
    if node is not None:
        parts.append(f"node {node}" + (f" ({node_type})" if node_type else ""))
    if f.get("node_class"):
        parts.append(f"node class {f['node_class']}")
    if f.get("model_name"):
        parts.append(f"model {file_name(f['model_name'])}")
    return ", ".join(parts)


def memory_gap(ctx: Context) -> str:
    """For an out-of-memory job: what it needed and the largest GPU it could have had."""
    if ctx.failure.failure_class is not FailureClass.GPU_OOM:
        return ""
    peak = OomReport.from_features(ctx.features).peak
    sizes = [v.vram_total for v in ctx.inventory.backends.values() if v.usable and v.vram_total]
    largest = f"; the largest usable GPU has {gib(max(sizes))}" if sizes else ""
    return f"needed about {gib(peak)}{largest}" if peak is not None else largest.lstrip("; ")
