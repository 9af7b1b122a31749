"""FREE_VRAM, REDUCE_PARAMS and the memory-aware REROUTE of an out-of-memory job.

All three read the OOM's own numbers (`recovery.memory`). After an OOM ComfyUI stays
fragmented (Comfy-Org/ComfyUI#9830), so the job never goes back to the same GPU without
a ``/free`` first; when it does not fit there even reduced, it moves to a GPU where it
does. Degradation (a lower resolution) is the last resort, and only when the policy
allows it and no other backend fits the job without it.
"""

from __future__ import annotations

from contracts.recovery import FreeVram
from contracts.taxonomy import Strategy
from recovery.inventory import BackendView
from recovery.memory import OomReport, gib
from recovery.strategies.context import Context, Plan
from recovery.strategies.fit import Fit, Level, fit


def _report(ctx: Context) -> OomReport:
    return OomReport.from_features(ctx.features)


def capacity_here(ctx: Context, report: OomReport) -> int | None:
    """Usable VRAM of the failing GPU after a ``/free``: the OOM's numbers, else telemetry."""
    model = ctx.tuning.memory
    from_oom = report.capacity_after_free(model.usable_fraction)
    view = ctx.backend
    return from_oom if from_oom is not None else model.capacity(view.vram_total if view else None)


def free_vram(ctx: Context) -> Plan | None:
    """Free VRAM and run the same job on the same GPU, when its peak fits there once freed."""
    if not ctx.same_backend_ok or ctx.backend_id is None:
        return None
    report = _report(ctx)
    capacity = capacity_here(ctx, report)
    peak = report.peak
    if peak is not None and capacity is not None:
        if not ctx.tuning.memory.fits(peak, capacity):
            return None
        reason = f"GPU_OOM: peak ~{gib(peak)} fits the {gib(capacity)} usable once VRAM is freed"
    else:
        reason = "GPU_OOM without usable numbers: free the fragmented VRAM, then run again once"
    return Plan(
        (Strategy.FREE_VRAM,),
        reason,
        actions=(FreeVram(backend_id=ctx.backend_id),),
        backend_hint=ctx.backend_id,
    )


def reduce_gpu(ctx: Context) -> Plan | None:
    """Smaller per-prompt work on the same (freed) GPU, chosen from the OOM's numbers."""
    if not ctx.same_backend_ok or ctx.backend_id is None:
        return None
    report = _report(ctx)
    capacity = capacity_here(ctx, report)
    fraction = _fraction_here(ctx, report, capacity)
    if fraction is None:
        return None
    chosen = fit(ctx, fraction, degrade=False)
    if chosen is None and not _fits_elsewhere(ctx, report) and ctx.policy.allow_degradation:
        chosen = fit(ctx, fraction, degrade=True)
    if chosen is None:
        return None
    reason = f"GPU_OOM: needed ~{gib(report.peak)}, {gib(capacity)} usable; {chosen.summary}"
    return Plan(
        (Strategy.FREE_VRAM, Strategy.REDUCE_PARAMS),
        reason,
        actions=(FreeVram(backend_id=ctx.backend_id),),
        workflow=chosen.workflow,
        part_size=chosen.part_size,
        backend_hint=ctx.backend_id,
        notes=chosen.notes,
    )


def reroute_gpu(ctx: Context) -> Plan | None:
    """Another GPU where the job fits with the fewest changes (then the most VRAM)."""
    report = _report(ctx)
    options = _options(ctx, report, ctx.policy.allow_degradation)
    if not options:
        return None
    level, view, chosen = min(options, key=lambda o: (o[0], -(o[1].vram_total or 0), o[1].rank()))
    strategies = (
        (Strategy.REROUTE,)
        if level is Level.UNCHANGED
        else (Strategy.REROUTE, Strategy.REDUCE_PARAMS)
    )
    return Plan(
        strategies,
        f"GPU_OOM: needed ~{gib(report.peak)}; "
        f"moved to a {gib(view.vram_total)} GPU ({chosen.summary})",
        workflow=chosen.workflow,
        part_size=chosen.part_size,
        backend_hint=view.backend_id,
        exclude=ctx.avoid(),
        notes=chosen.notes,
    )


def _free_host(ctx: Context) -> tuple[FreeVram, ...]:
    """Unload models and drop the node cache on the failing backend: what holds host RAM
    (the GPU path frees first too)."""
    if ctx.backend_id is None:
        return ()
    return (FreeVram(backend_id=ctx.backend_id, unload_models=True, free_memory=True),)


def free_host(ctx: Context) -> Plan | None:
    """Host RAM ran out: free the backend's memory, then run the same job there once more
    (what a human does first; a one-off shortage needs nothing else)."""
    if not ctx.same_backend_ok or ctx.backend_id is None:
        return None
    return Plan(
        (Strategy.FREE_VRAM,),
        "HOST_OOM: free the backend's memory (unload models, drop the cache), run again once",
        actions=_free_host(ctx),
        backend_hint=ctx.backend_id,
    )


def reroute_host(ctx: Context) -> Plan | None:
    """Host RAM ran out again: free the failing backend and run the job on another one."""
    found = ctx.elsewhere()
    if not found:
        return None
    return Plan(
        (Strategy.FREE_VRAM, Strategy.REROUTE),
        "HOST_OOM: memory freed on the failing backend; job rerouted to another backend",
        actions=_free_host(ctx),
        backend_hint=found[0].backend_id,
        exclude=ctx.avoid(),
    )


def reduce_host(ctx: Context) -> Plan | None:
    """Host RAM ran out: free it and halve the per-prompt work on the same backend (no
    numbers to use). When the batch's source node itself ran out (it could not even build
    the whole batch), each part is built at the source (`edits.split_at_source`)."""
    if not ctx.same_backend_ok:
        return None
    share = ctx.tuning.memory.blind_fraction
    chosen = fit(ctx, share, degrade=False)
    if chosen is None and ctx.policy.allow_degradation:
        chosen = fit(ctx, share, degrade=True)
    if chosen is None:
        return None
    at_source = chosen.part_size is not None and _at_source(ctx)
    where = "; each part built at the source" if at_source else ""
    return Plan(
        (Strategy.REDUCE_PARAMS,),
        f"HOST_OOM: host memory ran out; memory freed, {chosen.summary}{where}",
        actions=_free_host(ctx),
        workflow=chosen.workflow,
        part_size=chosen.part_size,
        part_at_source=True if at_source else None,
        backend_hint=ctx.backend_id,
        notes=chosen.notes,
    )


def _at_source(ctx: Context) -> bool:
    """Whether the node that ran out of host memory is the batch's source (the latent)."""
    latent = ctx.params().latent
    return latent is not None and ctx.failing_node == latent


def _fraction_here(ctx: Context, report: OomReport, capacity: int | None) -> float | None:
    """Share of the work that fits the freed GPU; None when nothing would fit there."""
    model = ctx.tuning.memory
    if report.peak is None or capacity is None:
        return model.blind_fraction
    share = model.work_fraction(report, capacity)
    if share is None:
        return None
    # It "fitted" and still ran out: the numbers understate the need; halve instead.
    return model.blind_fraction if share >= 1.0 else share


def _options(
    ctx: Context, report: OomReport, degrade: bool
) -> list[tuple[Level, BackendView, Fit]]:
    model = ctx.tuning.memory
    view_here = ctx.backend
    total_here = report.total or (view_here.vram_total if view_here else None)
    found = []
    for view in ctx.elsewhere():
        capacity = model.capacity(view.vram_total)
        if capacity is None or view.vram_total is None:
            continue
        if report.peak is not None:
            share = model.work_fraction(report, capacity)
        else:
            share = 1.0 if total_here is not None and view.vram_total > total_here else None
        chosen = None if share is None else fit(ctx, share, degrade)
        if chosen is not None and view.can_run(ctx.needs(chosen.workflow, chosen.part_size)):
            found.append((chosen.level, view, chosen))
    return found


def _fits_elsewhere(ctx: Context, report: OomReport) -> bool:
    """Whether another GPU takes the job without degrading it."""
    return bool(_options(ctx, report, degrade=False))
