"""CLAMP_PARAMS: bring numeric inputs back inside the node's min/max.

The bounds come from the backend's own node schema, as ComfyUI reports it with the
validation error (``input_config = [type, {min, max, step}]``), or from the classifier's
``min``/``max`` features. Any error that is not a min/max violation makes the failure
unclampable: recovery then aborts rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from contracts.job import NodeError
from contracts.taxonomy import Strategy
from recovery.edits import set_inputs
from recovery.features import number
from recovery.graph import Ref, is_link, value_at
from recovery.strategies.context import Context, Plan

CLAMPABLE: Final = frozenset({"value_smaller_than_min", "value_bigger_than_max"})


@dataclass(frozen=True, slots=True)
class Bound:
    """One out-of-range numeric input and its schema bounds."""

    ref: Ref
    low: float | None
    high: float | None
    step: float | None
    integer: bool


def _from_error(error: NodeError) -> Bound | None:
    config = error.input_config
    spec: Mapping[str, Any] = (
        config[1]
        if isinstance(config, list) and len(config) > 1 and isinstance(config[1], dict)
        else {}
    )
    kind = config[0] if isinstance(config, list) and config else None
    if error.input_name is None:
        return None
    return Bound(
        Ref(error.node_id, error.input_name),
        number(spec.get("min")),
        number(spec.get("max")),
        number(spec.get("step")),
        kind == "INT",
    )


def _from_features(features: Mapping[str, Any]) -> Bound | None:
    node, name = features.get("node_id"), features.get("input_name")
    if node is None or name is None:
        return None
    low, high = number(features.get("min")), number(features.get("max"))
    value = features.get("value")
    return Bound(
        Ref(str(node), str(name)),
        low,
        high,
        None,
        isinstance(value, int) and not isinstance(value, bool),
    )


def bounds(ctx: Context) -> tuple[Bound, ...]:
    """Every violation to clamp; empty when any reported error is not clampable."""
    if ctx.features.get("clampable") is False:
        return ()
    evidence = ctx.failure.evidence
    errors = evidence.node_errors if evidence is not None else []
    if any(error.type not in CLAMPABLE for error in errors):
        return ()
    found = [bound for bound in map(_from_error, errors) if bound is not None]
    if not errors and (single := _from_features(ctx.features)) is not None:
        found.append(single)
    return tuple(found)


def clamped(value: float, bound: Bound) -> float | int:
    """`value` inside the bound, on the step grid from the minimum, as the input's type."""
    low = bound.low if bound.low is not None else -math.inf
    high = bound.high if bound.high is not None else math.inf
    result = min(max(value, low), high)
    if bound.step and bound.step > 0 and bound.low is not None:
        result = bound.low + math.floor((result - bound.low) / bound.step + 1e-9) * bound.step
    return int(result) if bound.integer else result


def clamp(ctx: Context) -> Plan | None:
    """Clamp every out-of-range input of the current graph into its schema range."""
    found = bounds(ctx)
    if not found or not ctx.same_backend_ok:
        return None
    values: dict[Ref, Any] = {}
    notes: dict[Ref, str] = {}
    for bound in found:
        current = number(value_at(ctx.state.workflow, bound.ref))
        if current is None or is_link(value_at(ctx.state.workflow, bound.ref)):
            return None
        values[bound.ref] = clamped(current, bound)
        notes[bound.ref] = f"clamped into [{bound.low}, {bound.high}] from the node's schema"
    if all(values[ref] == value_at(ctx.state.workflow, ref) for ref in values):
        return None
    return Plan(
        (Strategy.CLAMP_PARAMS,),
        f"INVALID_PARAMETERS: {len(values)} input(s) clamped into the node's range",
        workflow=set_inputs(ctx.state.workflow, values),
        backend_hint=ctx.backend_id,
        notes=notes,
    )
