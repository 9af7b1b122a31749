"""REPAIR_MODEL_NAME, SWITCH_MODEL and the model-aware REROUTE.

A repair finds *the same file* under another spelling on a backend: another path prefix
or separator, a subfolder, a missing extension, letter case, quotes or a hash suffix
(``name.safetensors [a1b2c3d4]``). Exactly one file must match; two candidates are two
files, and recovery never picks by name similarity. A switch takes the next model from
an explicit fallback list (the job's or the operator's), and only one the chosen backend
really has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from contracts.taxonomy import Strategy
from recovery.edits import set_inputs
from recovery.graph import ModelRef, Ref, Requirements, model_refs
from recovery.inventory import BackendView
from recovery.strategies.context import Context, Plan

MODEL_EXTENSIONS: Final = (
    ".safetensors",
    ".ckpt",
    ".pt",
    ".pth",
    ".bin",
    ".gguf",
    ".sft",
    ".pkl",
    ".onnx",
)
_HASH_SUFFIX: Final = re.compile(r"\s*[\[(][0-9a-fA-F]{6,64}[\])]\s*$")


def _spelling(name: str) -> str:
    cleaned = _HASH_SUFFIX.sub("", name.strip().strip("'\"").strip()).replace("\\", "/")
    return cleaned.rsplit("/", 1)[-1].strip().casefold()


def same_file(asked: str, candidate: str) -> bool:
    """Whether `candidate` is `asked` spelled another way (never a similar name)."""
    a, c = _spelling(asked), _spelling(candidate)
    if a == c:
        return True
    return (
        not a.endswith(MODEL_EXTENSIONS)
        and c.endswith(MODEL_EXTENSIONS)
        and c.rsplit(".", 1)[0] == a
    )


def respell(asked: str, available: Iterable[str]) -> str | None:
    """The one file of `available` that is `asked` (itself when present); None if 0 or 2+."""
    names = set(available)
    if asked in names:
        return asked
    matches = {name for name in names if same_file(asked, name)}
    return matches.pop() if len(matches) == 1 else None


@dataclass(frozen=True, slots=True)
class Wanted:
    """A model input the failure is about."""

    ref: Ref
    folder: str
    name: str


def wanted_models(ctx: Context) -> tuple[Wanted, ...]:
    """The model inputs named by the features, by validation errors, or by the failing loader."""
    refs = {Ref(m.node, m.input): m for m in model_refs(ctx.state.workflow, ctx.state.bindings)}
    found: dict[Ref, ModelRef] = {}
    f = ctx.features
    ref = Ref(str(f.get("node_id")), str(f.get("input_name")))
    if ref in refs:
        found[ref] = refs[ref]
    elif f.get("model_name") is not None:
        found.update({r: m for r, m in refs.items() if m.name == f.get("model_name")})
    evidence = ctx.failure.evidence
    for error in evidence.node_errors if evidence else []:
        key = Ref(error.node_id, error.input_name or "")
        if key in refs and error.type == "value_not_in_list":
            found[key] = refs[key]
    if not found and evidence is not None and evidence.node_id is not None:
        found.update({r: m for r, m in refs.items() if r.node == evidence.node_id})
    folder = str(f.get("model_folder") or "")
    return tuple(Wanted(r, m.folder or folder, m.name) for r, m in sorted(found.items()))


def ambiguous(ctx: Context) -> tuple[str, ...]:
    """For each wanted model the failing backend has under two or more spellings (so no
    repair may pick one), a step naming them: only the user can say which file is meant."""
    view = ctx.backend
    if view is None:
        return ()
    steps = []
    for model in wanted_models(ctx):
        names = view.models_in(model.folder)
        found = sorted(name for name in set(names) if same_file(model.name, name))
        if model.name not in names and len(found) > 1:
            steps.append(
                f"Name one of the files the backend has for {model.name!r}: " + ", ".join(found)
            )
    return tuple(steps)


def _plan(
    ctx: Context,
    strategies: tuple[Strategy, ...],
    target: BackendView,
    values: Mapping[Ref, str],
    why: str,
) -> Plan:
    workflow = set_inputs(ctx.state.workflow, values) if values else None
    moved = target.backend_id != ctx.backend_id
    return Plan(
        strategies,
        f"{ctx.failure.failure_class}: {why}",
        workflow=workflow,
        backend_hint=target.backend_id,
        exclude=ctx.avoid() if moved else (),
        notes={ref: why for ref in values},
    )


def _respelled(wanted: Iterable[Wanted], view: BackendView) -> dict[Ref, str] | None:
    values = {}
    for model in wanted:
        name = respell(model.name, view.models_in(model.folder))
        if name is None:
            return None
        if name != model.name:
            values[model.ref] = name
    return values


def _runs(ctx: Context, view: BackendView, values: Mapping[Ref, str]) -> bool:
    workflow = set_inputs(ctx.state.workflow, values) if values else None
    return view.can_run(ctx.needs(workflow))


def repair(ctx: Context) -> Plan | None:
    """The same files under the spelling the failing backend uses."""
    view, wanted = ctx.backend, wanted_models(ctx)
    if view is None or not wanted or not ctx.same_backend_ok:
        return None
    values = _respelled(wanted, view)
    if not values or not _runs(ctx, view, values):
        return None
    return _plan(
        ctx, (Strategy.REPAIR_MODEL_NAME,), view, values, "the same file, spelled as on the backend"
    )


def reroute_to_holder(ctx: Context) -> Plan | None:
    """Another backend that holds the models (exactly, or the same files respelled)."""
    wanted = wanted_models(ctx)
    for view in ctx.elsewhere(needs=_without(ctx, wanted)):
        values = _respelled(wanted, view)
        if values is not None and _runs(ctx, view, values):
            strategies = (
                (Strategy.REROUTE, Strategy.REPAIR_MODEL_NAME) if values else (Strategy.REROUTE,)
            )
            return _plan(ctx, strategies, view, values, "rerouted to a backend that has the model")
    return None


def reroute_away(ctx: Context) -> Plan | None:
    """Another backend holding the same model (the file on the failing one is corrupt)."""
    found = ctx.elsewhere()
    if not found:
        return None
    return _plan(ctx, (Strategy.REROUTE,), found[0], {}, "rerouted away from a corrupt model file")


def switch(ctx: Context) -> Plan | None:
    """The first model of the explicit fallback list that a usable backend really has."""
    wanted = wanted_models(ctx)
    lists = [_fallbacks(ctx.policy.fallback_models, model.name) for model in wanted]
    if not wanted or not all(lists):
        return None
    here = [ctx.backend] if ctx.backend is not None and ctx.same_backend_ok else []
    for view in [*here, *ctx.elsewhere(needs=_without(ctx, wanted))]:
        values = _chosen(wanted, lists, view)
        if values is not None and _runs(ctx, view, values):
            names = ", ".join(sorted(set(values.values())))
            return _plan(
                ctx, (Strategy.SWITCH_MODEL,), view, values, f"switched to the fallback {names}"
            )
    return None


def _fallbacks(table: Mapping[str, list[str]], name: str) -> list[str]:
    if name in table:
        return table[name]
    keys = [key for key in table if same_file(name, key) or same_file(key, name)]
    return table[keys[0]] if len(keys) == 1 else []


def _chosen(
    wanted: Iterable[Wanted], lists: list[list[str]], view: BackendView
) -> dict[Ref, str] | None:
    values = {}
    for model, options in zip(wanted, lists, strict=True):
        available = view.models_in(model.folder)
        name = next(
            (n for n in (respell(o, available) for o in options) if n and n != model.name), None
        )
        if name is None:
            return None
        values[model.ref] = name
    return values


def _without(ctx: Context, wanted: Iterable[Wanted]) -> Requirements:
    """The job's needs minus the models being replaced (checked per backend after)."""
    needs = ctx.needs()
    drop = {m.name for m in wanted}
    return Requirements(needs.node_classes, frozenset(m for m in needs.models if m[1] not in drop))
