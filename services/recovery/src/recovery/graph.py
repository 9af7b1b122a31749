"""Parameter discovery in an API-format ComfyUI graph: size, batch, steps, models, decoders.

A graph is ``{node_id: {"class_type": str, "inputs": {...}}}``; a link is
``[source_node_id, output_index]``. Parameters come from the job's explicit bindings
(name → node id + input) first, then from the standard nodes (`recovery.nodes`).
Recognised binding names: ``width``, ``height``, ``batch_size``, ``steps``, ``decoder``
(a decoder node) and any name starting with ``model`` (a model-file input).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.job import Binding
from recovery import nodes

Workflow = dict[str, Any]
"""An API-format ComfyUI graph (treated as an immutable value)."""


@dataclass(frozen=True, slots=True, order=True)
class Ref:
    """One input of one node."""

    node: str
    input: str


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model-file input: where it is, the folder it reads, and the file name asked for."""

    node: str
    input: str
    folder: str
    name: str


@dataclass(frozen=True, slots=True)
class GraphParams:
    """Where the tunable parameters of one graph live."""

    latent: str | None = None
    grid: int = 8
    width: Ref | None = None
    height: Ref | None = None
    batch: Ref | None = None
    steps: tuple[Ref, ...] = ()
    decoders: tuple[str, ...] = ()
    models: tuple[ModelRef, ...] = ()
    followers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Requirements:
    """What a backend must have to run some graphs: node classes and model files."""

    node_classes: frozenset[str]
    models: frozenset[tuple[str, str]]


def is_link(value: Any) -> bool:
    """Whether an input value is a link ``[node_id, output_index]``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def class_of(workflow: Workflow, node: str) -> str | None:
    """The class_type of `node`, or None when it is not in the graph."""
    entry = workflow.get(node)
    if not isinstance(entry, dict):
        return None
    cls = entry.get("class_type")
    return cls if isinstance(cls, str) else None


def inputs_of(workflow: Workflow, node: str) -> Mapping[str, Any]:
    """The inputs of `node` (empty when missing)."""
    entry = workflow.get(node)
    inputs = entry.get("inputs") if isinstance(entry, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def iter_nodes(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """(node id, class_type) of every well-formed node, in id order."""
    for node in sorted(workflow, key=_id_order):
        cls = class_of(workflow, node)
        if cls is not None:
            yield node, cls


def value_at(workflow: Workflow, ref: Ref) -> Any:
    """The literal at `ref` (None when absent)."""
    return inputs_of(workflow, ref.node).get(ref.input)


def int_at(workflow: Workflow, ref: Ref | None) -> int | None:
    """The integer at `ref`, or None when it is absent or not an integer."""
    if ref is None:
        return None
    value = value_at(workflow, ref)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def literal_ref(workflow: Workflow, ref: Ref) -> Ref | None:
    """Where the literal behind `ref` lives: itself, or the primitive node it links to."""
    value = value_at(workflow, ref)
    if value is None:
        return None
    if not is_link(value):
        return ref
    source = str(value[0])
    if class_of(workflow, source) in nodes.PRIMITIVES:
        target = Ref(source, "value")
        return target if not is_link(value_at(workflow, target)) else None
    return None


def consumers(workflow: Workflow, node: str, output: int = 0) -> tuple[Ref, ...]:
    """Every input linked to `node`'s output `output`."""
    found = []
    for other, _ in iter_nodes(workflow):
        for name, value in inputs_of(workflow, other).items():
            if is_link(value) and str(value[0]) == node and value[1] == output:
                found.append(Ref(other, name))
    return tuple(found)


def discover(workflow: Workflow, bindings: Mapping[str, Binding] | None = None) -> GraphParams:
    """Find width, height, batch size, steps, decoders and models in `workflow`."""
    listed = list(iter_nodes(workflow))
    bound = {name: Ref(b.node, b.input) for name, b in (bindings or {}).items()}
    latent = _bound_latent(workflow, bound) or _latent_node(workflow, listed)
    grid = nodes.LATENT_GRID.get(class_of(workflow, latent) or "", 8) if latent else 8

    def pick(name: str) -> Ref | None:
        if name in bound:
            return literal_ref(workflow, bound[name]) or bound[name]
        return literal_ref(workflow, Ref(latent, name)) if latent else None

    steps = (pick("steps"),) if "steps" in bound else _step_refs(workflow, listed)
    decoders = (
        (bound["decoder"].node,)
        if "decoder" in bound
        else tuple(n for n, c in listed if c in nodes.DECODERS)
    )
    return GraphParams(
        latent=latent,
        grid=grid,
        width=pick("width"),
        height=pick("height"),
        batch=pick("batch_size"),
        steps=tuple(ref for ref in steps if ref is not None),
        decoders=decoders,
        models=model_refs(workflow, bindings, listed),
        followers=tuple(n for n, c in listed if c in nodes.SIZE_FOLLOWERS),
    )


def model_refs(
    workflow: Workflow,
    bindings: Mapping[str, Binding] | None = None,
    listed: Sequence[tuple[str, str]] | None = None,
) -> tuple[ModelRef, ...]:
    """Every model-file input holding a name: standard loaders, then bound ``model*`` inputs."""
    found: dict[Ref, ModelRef] = {}
    for node, cls in listed if listed is not None else iter_nodes(workflow):
        for name, folder in nodes.MODEL_INPUTS.get(cls, {}).items():
            value = inputs_of(workflow, node).get(name)
            if isinstance(value, str):
                found[Ref(node, name)] = ModelRef(node, name, folder, value)
    for key, binding in sorted((bindings or {}).items()):
        ref = Ref(binding.node, binding.input)
        value = value_at(workflow, ref)
        if key.startswith("model") and ref not in found and isinstance(value, str):
            found[ref] = ModelRef(ref.node, ref.input, "", value)
    return tuple(found.values())


def params_of(workflow: Workflow, gp: GraphParams, part_size: int | None = None) -> dict[str, Any]:
    """The named parameters of `workflow` as the read model shows them."""
    out: dict[str, Any] = {}
    for name, ref in (("width", gp.width), ("height", gp.height), ("batch_size", gp.batch)):
        if ref is not None:
            out[name] = value_at(workflow, ref)
    if gp.steps:
        out["steps"] = value_at(workflow, gp.steps[0])
    names = [m.input for m in gp.models]
    for m in gp.models:
        key = m.input if names.count(m.input) == 1 else f"{m.input}@{m.node}"
        out[key] = value_at(workflow, Ref(m.node, m.input))
    if gp.decoders:
        out["decoder"] = class_of(workflow, gp.decoders[0])
    if part_size is not None:
        out["batch_part_size"] = part_size
    return out


def requirements(workflows: Sequence[Workflow]) -> Requirements:
    """The node classes and (folder, file) models that `workflows` need."""
    classes: set[str] = set()
    models: set[tuple[str, str]] = set()
    for workflow in workflows:
        listed = list(iter_nodes(workflow))
        classes.update(cls for _, cls in listed)
        models.update(
            (nodes.canonical_folder(m.folder), m.name) for m in model_refs(workflow, None, listed)
        )
    return Requirements(frozenset(classes), frozenset(models))


def bind(
    workflow: Workflow, params: Mapping[str, Any], bindings: Mapping[str, Binding]
) -> Workflow:
    """`workflow` with each bound parameter's value written at its binding."""
    out = dict(workflow)
    for name, binding in bindings.items():
        if name in params and isinstance(out.get(binding.node), dict):
            node = dict(out[binding.node])
            node["inputs"] = {**inputs_of(out, binding.node), binding.input: params[name]}
            out[binding.node] = node
    return out


def _bound_latent(workflow: Workflow, bound: Mapping[str, Ref]) -> str | None:
    ref = bound.get("width") or bound.get("batch_size")
    if ref is not None and class_of(workflow, ref.node) in nodes.LATENT_GRID:
        return ref.node
    return None


def _latent_node(workflow: Workflow, listed: Sequence[tuple[str, str]]) -> str | None:
    """The empty latent that feeds a sampler (else the first empty latent at all)."""
    latents = [node for node, cls in listed if cls in nodes.LATENT_GRID]
    for node, cls in listed:
        link = inputs_of(workflow, node).get("latent_image") if cls in nodes.SAMPLERS else None
        if isinstance(link, list) and is_link(link) and str(link[0]) in latents:
            return str(link[0])
    return latents[0] if latents else None


def _step_refs(workflow: Workflow, listed: Sequence[tuple[str, str]]) -> tuple[Ref | None, ...]:
    refs: list[Ref | None] = []
    for node, cls in listed:
        name = nodes.SAMPLERS.get(cls) or ("steps" if cls in nodes.SCHEDULERS_WITH_STEPS else None)
        if name is not None:
            refs.append(literal_ref(workflow, Ref(node, name)))
    return tuple(refs)


def _id_order(node: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then the rest by text."""
    return (0, int(node), "") if node.isdigit() else (1, 0, node)
