"""Campaign figures from what happened to each job: pure functions over plain records.

A job's *outcome* joins three views: its spec (kind, label, what it asked for), what the
policy's client saw (completed or not, which prompts made the final output, when it first
failed and when it ended, the abort message) and the simulator's own records (every prompt
run with its GPU time, images and parameters; every POST /prompt received).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from comfy_recovery.campaign.mix import CLEAN, NON_RECOVERABLE, RECOVERABLE, JobSpec

COMPLETED, ABORTED, UNFINISHED = "completed", "aborted", "unfinished"


@dataclass(frozen=True)
class PromptRecord:
    """One run of one prompt, from the simulator's ledger."""

    prompt_id: str
    gpu_seconds: float
    status: str
    images: int
    sizes: tuple[tuple[int, int], ...] = ()
    models: tuple[str, ...] = ()


@dataclass
class JobRun:
    """What the policy's client saw of one job (times in seconds since the epoch)."""

    index: int
    status: str = UNFINISHED
    final_prompts: list[str] = field(default_factory=list)
    submitted_at: float = 0.0
    first_failure_at: float | None = None
    ended_at: float | None = None
    message: str = ""
    fix_steps: list[str] = field(default_factory=list)
    completions: int = 0
    trail: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobOutcome:
    """One job, judged."""

    index: int
    kind: str
    label: str
    status: str
    correct: bool
    dispatches: int
    gpu_seconds: float
    wasted_gpu_seconds: float
    time_to_recover_s: float | None
    fix_named: bool
    completions: int
    message: str = ""
    trail: tuple[str, ...] = ()
    runs: int = 0
    """The job's prompts that started running (the simulator's ledger): a dispatch lost in a
    backend's queue to another job's crash never ran and is not a retry of this job."""

    @property
    def completed(self) -> bool:
        """The job ended with job.completed (whatever its output)."""
        return self.status == COMPLETED


def output_correct(spec: JobSpec, finals: Sequence[PromptRecord]) -> bool:
    """Every image kept, resolution kept unless degradation is allowed, the model asked for."""
    if not finals or any(r.status != "success" for r in finals):
        return False
    if sum(r.images for r in finals) != spec.batch:
        return False
    if not spec.allow_degradation and any(
        size != (spec.width, spec.height) for r in finals for size in r.sizes
    ):
        return False
    return all(model == spec.ckpt for r in finals for model in r.models)


def judge(
    spec: JobSpec, run: JobRun, records: Sequence[PromptRecord], dispatches: int
) -> JobOutcome:
    """The outcome of one job from its spec, the client's view and the simulator's records."""
    by_id = {r.prompt_id: r for r in records}
    finals = [by_id[p] for p in run.final_prompts if p in by_id]
    completed = run.status == COMPLETED
    gpu = sum(r.gpu_seconds for r in records)
    useful = sum(r.gpu_seconds for r in finals) if completed else 0.0
    ttr = None
    if completed and run.first_failure_at is not None and run.ended_at is not None:
        ttr = max(0.0, run.ended_at - run.first_failure_at)
    return JobOutcome(
        index=spec.index,
        kind=spec.kind,
        label=spec.label,
        status=run.status,
        correct=completed and output_correct(spec, finals),
        dispatches=dispatches,
        gpu_seconds=gpu,
        wasted_gpu_seconds=max(0.0, gpu - useful),
        time_to_recover_s=ttr,
        fix_named=run.status == ABORTED and bool(run.fix_steps),
        completions=run.completions,
        message=run.message,
        trail=tuple(run.trail),
        runs=len(records),
    )


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def summarize(outcomes: Sequence[JobOutcome]) -> dict[str, Any]:
    """Figures for a group of jobs (one fault kind, or all)."""
    recoverable = [o for o in outcomes if o.label == RECOVERABLE]
    clean = [o for o in outcomes if o.label == CLEAN]
    broken = [o for o in outcomes if o.label == NON_RECOVERABLE]
    ttrs = [o.time_to_recover_s for o in recoverable if o.correct and o.time_to_recover_s]
    early = [o for o in broken if o.status == ABORTED and o.runs <= 1]
    p50, p95 = percentile(ttrs, 50), percentile(ttrs, 95)
    return {
        "jobs": len(outcomes),
        "completed": sum(o.completed for o in outcomes),
        "correct": sum(o.correct for o in outcomes),
        "wrong_outputs": sum(o.completed and not o.correct for o in outcomes),
        "recoverable": len(recoverable),
        "recovered": sum(o.correct for o in recoverable),
        "recovery_pct": _pct(sum(o.correct for o in recoverable), len(recoverable)),
        "clean": len(clean),
        "clean_harmed": sum(not o.correct for o in clean),
        "non_recoverable": len(broken),
        "aborted_first_run": len(early),
        "aborted_first_dispatch": sum(o.status == ABORTED and o.dispatches <= 1 for o in broken),
        "aborted_with_fix": sum(o.fix_named for o in early),
        "unfinished": sum(o.status == UNFINISHED for o in outcomes),
        "doubled": sum(o.completions > 1 for o in outcomes),
        "dispatches": sum(o.dispatches for o in outcomes),
        "gpu_s": round(sum(o.gpu_seconds for o in outcomes), 3),
        "wasted_gpu_s": round(sum(o.wasted_gpu_seconds for o in outcomes), 3),
        "ttr_p50_s": round(p50, 2) if p50 is not None else None,
        "ttr_p95_s": round(p95, 2) if p95 is not None else None,
    }


def by_kind(outcomes: Sequence[JobOutcome]) -> dict[str, dict[str, Any]]:
    """`summarize` per fault kind (in first-seen order), then `all`."""
    kinds = list(dict.fromkeys(o.kind for o in outcomes))
    table = {kind: summarize([o for o in outcomes if o.kind == kind]) for kind in kinds}
    table["all"] = summarize(outcomes)
    return table


def completion_bar(ours: dict[str, Any], naive: dict[str, Any], seed: dict[str, Any]) -> list[str]:
    """Issue 12's bar for `ours` (overall figures); the unmet conditions, empty when met."""
    unmet = []
    rec, clean = ours["recovery_pct"] or 0.0, ours["clean"]
    if rec < 95:
        unmet.append(f"recoverable completed {rec}% < 95%")
    if ours["clean_harmed"]:
        unmet.append(f"{ours['clean_harmed']} of {clean} clean jobs harmed")
    if ours["wrong_outputs"]:
        unmet.append(f"{ours['wrong_outputs']} wrong outputs")
    if ours["aborted_with_fix"] != ours["non_recoverable"]:
        unmet.append(
            f"{ours['aborted_with_fix']} of {ours['non_recoverable']} non-recoverable jobs "
            "aborted after <=1 run of their prompt with a fix named"
        )
    if rec < (naive["recovery_pct"] or 0.0) + 40:
        unmet.append(f"ours {rec}% does not beat naive {naive['recovery_pct']}% by 40 points")
    if rec <= (seed["recovery_pct"] or 0.0):
        unmet.append(f"ours {rec}% does not beat seed {seed['recovery_pct']}%")
    return unmet
