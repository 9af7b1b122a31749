"""Turn a plan into a dispatching `Decision`: the diff, the split graphs, the Dispatch."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from contracts.recovery import Dispatch, ParamChange
from contracts.taxonomy import FailureClass, Strategy
from recovery import budget
from recovery.decision import Decision
from recovery.edits import CLASS_INPUT, PART_PARAM, SOURCE_PARAM, diff, split_batch
from recovery.graph import GraphParams, Ref, Workflow, discover, int_at, params_of
from recovery.job_state import JobState
from recovery.strategies.context import Plan


def param_names(gp: GraphParams) -> dict[Ref, str]:
    """Input → the parameter name the read model shows for it."""
    names = {ref: "steps" for ref in gp.steps}
    names.update({Ref(m.node, m.input): m.input for m in gp.models})
    for ref, name in ((gp.width, "width"), (gp.height, "height"), (gp.batch, "batch_size")):
        if ref is not None:
            names[ref] = name
    for node in gp.decoders:
        names[Ref(node, CLASS_INPUT)] = "decoder"
        names[Ref(node, "tile_size")] = "tile_size"
    return names


def _split_change(
    gp: GraphParams, batch: int | None, before: int | None, after: int | None
) -> ParamChange:
    if after is None or batch is None:
        note = "run the batch as one prompt again"
    else:
        note = (
            f"run the batch of {batch} as {math.ceil(batch / after)} prompts of {after}; "
            "LatentFromBatch keeps each image's noise, so together they are the same batch"
        )
    return _batch_record(gp, PART_PARAM, before, after, note)


def _source_change(gp: GraphParams, before: bool, after: bool) -> ParamChange:
    note = (
        "each part builds only its own images at the source, which cannot hold the whole "
        "batch; each part's seed moves on by its first index (other noise, every image kept)"
        if after
        else "the parts take their images from the whole batch again"
    )
    return _batch_record(gp, SOURCE_PARAM, before, after, note)


def _batch_record(
    gp: GraphParams, param: str, before: object, after: object, note: str
) -> ParamChange:
    """A record of how the batch is split (on the latent's batch_size; not a graph edit)."""
    return ParamChange(
        node=gp.latent or "", input="batch_size", before=before, after=after, param=param, note=note
    )


def build(
    state: JobState,
    *,
    answers: str,
    attempt: int,
    now: datetime,
    strategy: Strategy,
    plan: Plan,
    part: int | None,
    failure_class: FailureClass | None = None,
) -> Decision:
    """A decision that dispatches `plan`'s graph (split by `part`) as the next attempt."""
    base: Workflow = state.workflow
    new = plan.workflow if plan.workflow is not None else base
    gp = discover(new, state.bindings)
    batch = int_at(new, gp.batch)
    changes = diff(base, new, param_names(gp), plan.notes)
    if part != state.part_size:
        changes.append(_split_change(gp, batch, state.part_size, part))
    at_source = state.part_at_source if plan.part_at_source is None else plan.part_at_source
    if at_source != state.part_at_source:
        changes.append(_source_change(gp, state.part_at_source, at_source))
    dispatch = Dispatch(
        attempt=budget.next_attempt(state, attempt),
        workflows=split_batch(new, gp.latent, batch, part, at_source),
        params=params_of(new, gp, part),
        backend_hint=plan.backend_hint,
        exclude_backends=_exclude(state, plan),
        require_version_other_than=plan.require_version_other_than,
        require_device_other_than=plan.require_device_other_than,
        not_before=now + timedelta(seconds=plan.delay_s) if plan.delay_s > 0 else None,
        resume=plan.resume,
        wait_until=plan.wait_until,
    )
    return Decision(
        job_id=state.job_id,
        answers=answers,
        attempt=attempt,
        at=now,
        strategy=strategy,
        strategies=plan.strategies,
        actions=(*plan.actions, dispatch),
        changes=tuple(changes),
        failure_class=failure_class,
        delay_s=plan.delay_s,
        reason=plan.reason,
    )


def _exclude(state: JobState, plan: Plan) -> list[str]:
    """The plan's exclusions plus every backend already bad for the job (a retry on the same
    backend must not land, when that one is down, on a backend the job was moved off), but
    never the backend the plan itself names."""
    bad = budget.bad_backends(state) - {plan.backend_hint}
    return sorted(set(plan.exclude) | bad)
