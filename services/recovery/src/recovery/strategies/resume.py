"""RESUME and INTERRUPT: resubmit the same prompt so ComfyUI reuses its cached outputs.

Only the most recent prompt's outputs stay cached (API.md §9), so a resume goes back to
the same backend at once; a stalled or overdue prompt is interrupted first, by prompt id,
so the nodes it finished are cached.
"""

from __future__ import annotations

from contracts.recovery import Interrupt
from contracts.taxonomy import Strategy
from recovery.edits import retarget_outputs
from recovery.graph import Ref
from recovery.nodes import OUTPUT_PREFIX_INPUT
from recovery.strategies.context import Context, Plan


def interrupts(ctx: Context, reason: str) -> tuple[Interrupt, ...]:
    """Interrupt our prompt(s) of the failed attempt on its backend, by prompt id."""
    backend = ctx.backend_id
    if backend is None:
        return ()
    prompt = ctx.failure.prompt_id
    ids = (prompt,) if prompt else ctx.state.prompt_ids
    return tuple(Interrupt(backend_id=backend, prompt_id=pid, reason=reason) for pid in ids)


def _resume(ctx: Context, why: str, interrupt: bool) -> Plan | None:
    if not ctx.same_backend_ok:
        return None
    actions = interrupts(ctx, why) if interrupt else ()
    strategies = (Strategy.INTERRUPT, Strategy.RESUME) if actions else (Strategy.RESUME,)
    return Plan(
        strategies,
        f"{ctx.failure.failure_class}: {why}; resubmit the same prompt to reuse cached outputs",
        actions=actions,
        backend_hint=ctx.backend_id,
        resume=True,
    )


def cache_gone(ctx: Context) -> bool:
    """Whether the backend lost the prompt with its process (a crash or a restart): then
    nothing it ran is cached there any more, and going back to it gains nothing."""
    evidence = ctx.failure.evidence
    return evidence is not None and evidence.observation == "prompt_lost"


def resume(ctx: Context) -> Plan | None:
    """Resubmit the same prompt: on the same backend (its cache), else on the best other.
    A prompt the backend lost with its process goes wherever there is room first (the
    submitter's choice by load), the restarted backend included."""
    if cache_gone(ctx):
        return Plan(
            (Strategy.RESUME,),
            f"{ctx.failure.failure_class}: the backend lost the prompt (restarted?), and its "
            "cache with it; resubmit it on the least loaded backend",
        )  # the job's barred backends are excluded by every dispatch (`dispatch.build`)
    same = _resume(ctx, "the prompt was lost or interrupted", interrupt=False)
    if same is not None:
        return same
    others = ctx.elsewhere()
    if not others:
        return None
    return Plan(
        (Strategy.RESUME, Strategy.REROUTE),
        f"{ctx.failure.failure_class}: the prompt was lost and its backend is out; "
        "resubmit it on another backend",
        backend_hint=others[0].backend_id,
        exclude=ctx.avoid(),
    )


def interrupt_and_resume(ctx: Context) -> Plan | None:
    """Interrupt the stalled or overdue prompt, then resubmit it on the same backend."""
    return _resume(ctx, "the prompt stalled or ran over", interrupt=True)


def rerun_outputs(ctx: Context) -> Plan | None:
    """Run the output nodes again: a new filename prefix, everything upstream cached."""
    if not ctx.same_backend_ok:
        return None
    workflow = retarget_outputs(ctx.state.workflow, f"_r{ctx.next_attempt}")
    changed = [node for node in workflow if workflow[node] is not ctx.state.workflow[node]]
    if not changed:
        return None
    return Plan(
        (Strategy.RESUME,),
        "OUTPUT_MISSING: the output nodes produced nothing; run them once more",
        workflow=workflow,
        backend_hint=ctx.backend_id,
        resume=True,
        notes=dict.fromkeys(
            (Ref(node, OUTPUT_PREFIX_INPUT) for node in changed),
            "new prefix: only the output nodes run again",
        ),
    )
