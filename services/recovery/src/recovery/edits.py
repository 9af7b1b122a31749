"""Edits of an API-format graph, and their record as a diff (a `ParamChange` list).

Recovery keeps one *base* graph per job (the original, plus every recorded change) and a
batch part size. The graphs actually dispatched are the base split into parts
(`split_batch`), so `apply_changes(base, diff(base, new))` always gives ``new`` back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from contracts.recovery import ParamChange
from recovery import nodes
from recovery.graph import Ref, Workflow, class_of, consumers, inputs_of

CLASS_INPUT: Final = "class_type"
"""The pseudo-input a class change is recorded under."""
PART_PARAM: Final = "batch_part_size"
"""The param name of a batch split (recorded, but not an edit of the base graph)."""
SOURCE_PARAM: Final = "batch_part_at_source"
"""The param name recording that each part is built at the batch's source (recorded, not an
edit of the base graph): the source itself ran out of host memory for the whole batch."""
SEED_INPUTS: Final = ("seed", "noise_seed")
SEED_MODULUS: Final = 2**64
SPLIT_PREFIX: Final = "cr_split_"


def set_inputs(workflow: Workflow, values: Mapping[Ref, Any]) -> Workflow:
    """`workflow` with each ref set to its value (a None value removes the input)."""
    out = dict(workflow)
    for ref, value in values.items():
        node = dict(out[ref.node])
        inputs = dict(inputs_of(out, ref.node))
        if value is None:
            inputs.pop(ref.input, None)
        else:
            inputs[ref.input] = value
        node["inputs"] = inputs
        out[ref.node] = node
    return out


def set_class(workflow: Workflow, node: str, class_type: str) -> Workflow:
    """`workflow` with `node` turned into `class_type` (inputs unchanged)."""
    out = dict(workflow)
    out[node] = {**out[node], "class_type": class_type}
    return out


def diff(
    before: Workflow,
    after: Workflow,
    names: Mapping[Ref, str] | None = None,
    notes: Mapping[Ref, str] | None = None,
) -> list[ParamChange]:
    """Every class and input change from `before` to `after`, in node order.

    Raises:
        ValueError: a node was added or removed (base graphs keep their nodes).
    """
    if set(before) != set(after):
        raise ValueError("a base graph keeps its nodes; only inputs and classes change")
    changes: list[ParamChange] = []
    for node in sorted(before):
        if before[node] is after[node]:
            continue
        changes += _node_changes(before, after, node, names or {}, notes or {})
    return changes


def _node_changes(
    before: Workflow,
    after: Workflow,
    node: str,
    names: Mapping[Ref, str],
    notes: Mapping[Ref, str],
) -> list[ParamChange]:
    out: list[ParamChange] = []
    old_cls, new_cls = class_of(before, node), class_of(after, node)
    if old_cls != new_cls:
        ref = Ref(node, CLASS_INPUT)
        out.append(_change(ref, old_cls, new_cls, names, notes))
    old, new = inputs_of(before, node), inputs_of(after, node)
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            out.append(_change(Ref(node, name), old.get(name), new.get(name), names, notes))
    return out


def _change(
    ref: Ref, before: Any, after: Any, names: Mapping[Ref, str], notes: Mapping[Ref, str]
) -> ParamChange:
    return ParamChange(
        node=ref.node,
        input=ref.input,
        before=before,
        after=after,
        param=names.get(ref),
        note=notes.get(ref, ""),
    )


def apply_changes(workflow: Workflow, changes: Sequence[ParamChange]) -> Workflow:
    """`workflow` with `changes` replayed (split records are skipped: see `PART_PARAM`)."""
    out = workflow
    for change in changes:
        if change.param in (PART_PARAM, SOURCE_PARAM) or change.node not in out:
            continue
        if change.input == CLASS_INPUT:
            out = set_class(out, change.node, str(change.after))
        else:
            out = set_inputs(out, {Ref(change.node, change.input): change.after})
    return out


def split_batch(
    workflow: Workflow,
    latent: str | None,
    batch: int | None,
    part: int | None,
    at_source: bool = False,
) -> list[Workflow]:
    """One graph per part of the batch, each sampling only its own images.

    A LatentFromBatch(batch_index=start, length) between the empty latent and its
    consumers keeps ``batch_index``, so each image gets the noise it had in the full
    batch: the parts' outputs together are exactly what the whole batch would give.
    With `at_source` (the source cannot hold the whole batch) see `split_at_source`.
    """
    if latent is None or batch is None or part is None or part >= batch:
        return [workflow]
    if at_source:
        return split_at_source(workflow, latent, batch, part)
    splitter = SPLIT_PREFIX + latent
    targets = consumers(workflow, latent, 0)
    graphs = []
    for index, start in enumerate(range(0, batch, part)):
        graph = set_inputs(workflow, {ref: [splitter, 0] for ref in targets})
        graph[splitter] = {
            "class_type": nodes.SPLITTER,
            "inputs": {
                "samples": [latent, 0],
                "batch_index": start,
                "length": min(part, batch - start),
            },
            "_meta": {"title": f"recovery: batch part {index + 1}"},
        }
        graphs.append(graph)
    return graphs


def split_at_source(workflow: Workflow, latent: str, batch: int, part: int) -> list[Workflow]:
    """One graph per part whose source builds only that part's images (its ``batch_size``
    is the part's length), for a source that ran out of host memory for the whole batch.

    Every sampler seed of part k moves on by the part's first index, so no part repeats
    another's noise: the images are all there and all different, but they are not the
    whole batch's images (other noise, as with other seeds) — LatentFromBatch cannot keep
    those without building the whole batch first.
    """
    seeds = {
        Ref(node, name): value
        for node in sorted(workflow)
        for name in SEED_INPUTS
        if isinstance(value := inputs_of(workflow, node).get(name), int)
        and not isinstance(value, bool)
    }
    graphs = []
    for start in range(0, batch, part):
        values: dict[Ref, Any] = {Ref(latent, "batch_size"): min(part, batch - start)}
        values.update({ref: (seed + start) % SEED_MODULUS for ref, seed in seeds.items()})
        graphs.append(set_inputs(workflow, values))
    return graphs


def to_tiled_decode(workflow: Workflow, decoders: Sequence[str], tile: int) -> Workflow:
    """`workflow` with each decoder a VAEDecodeTiled of `tile` pixels (schema inputs set)."""
    overlap = min(nodes.TILED_DEFAULTS["overlap"], (tile // 4) // nodes.TILE_STEP * nodes.TILE_STEP)
    out = workflow
    for node in decoders:
        current = inputs_of(out, node)
        values = {
            Ref(node, name): current.get(name, default)
            for name, default in nodes.TILED_DEFAULTS.items()
            if name not in ("tile_size", "overlap")
        }
        values[Ref(node, "tile_size")] = tile
        values[Ref(node, "overlap")] = overlap
        out = set_inputs(set_class(out, node, nodes.TILED_DECODER), values)
    return out


def retarget_outputs(workflow: Workflow, suffix: str) -> Workflow:
    """`workflow` with every ``filename_prefix`` given `suffix`, so output nodes run again.

    ComfyUI serves an identical output node from its cache without writing a file
    (API.md §9); a new prefix makes only the saving nodes execute again.
    """
    values = {
        Ref(node, nodes.OUTPUT_PREFIX_INPUT): f"{value}{suffix}"
        for node in sorted(workflow)
        if isinstance(value := inputs_of(workflow, node).get(nodes.OUTPUT_PREFIX_INPUT), str)
    }
    return set_inputs(workflow, values)
