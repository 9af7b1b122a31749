"""The campaign's figures as text tables (stdout) and as a JSON document."""

from __future__ import annotations

from typing import Any

from comfy_recovery.render import table

OVERALL_COLUMNS = (
    ("policy", None),
    ("completed", "completed"),
    ("recovered", "recovered"),
    ("recovery %", "recovery_pct"),
    ("clean harmed", "clean_harmed"),
    ("wrong outputs", "wrong_outputs"),
    ("non-rec ≤1 run", "aborted_first_run"),
    ("(≤1 dispatch)", "aborted_first_dispatch"),
    ("with fix", "aborted_with_fix"),
    ("unfinished", "unfinished"),
    ("dispatches", "dispatches"),
    ("wasted GPU-s", "wasted_gpu_s"),
    ("TTR p50 s", "ttr_p50_s"),
    ("TTR p95 s", "ttr_p95_s"),
)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def overall_table(report: dict[str, Any]) -> str:
    """One row per policy: the overall figures."""
    rows = []
    for policy, result in report["policies"].items():
        figures = result["by_kind"]["all"]
        row = [policy]
        for _, key in OVERALL_COLUMNS[1:]:
            value = figures[key]
            if key == "completed":
                value = f"{value}/{figures['jobs']}"
            elif key == "recovered":
                value = f"{value}/{figures['recoverable']}"
            elif key == "clean_harmed":
                value = f"{value}/{figures['clean']}"
            elif key in ("aborted_first_run", "aborted_first_dispatch"):
                value = f"{value}/{figures['non_recoverable']}"
            row.append(_cell(value))
        rows.append(row)
    return table([name for name, _ in OVERALL_COLUMNS], rows)


def kind_table(report: dict[str, Any]) -> str:
    """One row per fault kind; per policy: correct completions/jobs, dispatches, wasted GPU-s."""
    policies = list(report["policies"])
    kinds = [k for k in report["mix"] if k != "all"]
    headers = ["kind", "label", "jobs"] + [f"{p} ok·disp·waste" for p in policies]
    rows = []
    for kind in [*kinds, "all"]:
        label = report["labels"].get(kind, "")
        cells: list[str] = [kind, label]
        jobs = None
        for policy in policies:
            figures = report["policies"][policy]["by_kind"].get(kind)
            if figures is None:
                cells.append("-")
                continue
            jobs = figures["jobs"]
            cells.append(
                f"{figures['correct']}·{figures['dispatches']}·{figures['wasted_gpu_s']:.1f}"
            )
        rows.append([cells[0], cells[1], _cell(jobs), *cells[2:]])
    return table(headers, rows)


def chaos_lines(report: dict[str, Any]) -> list[str]:
    """What the chaos did during `ours`, and lost/doubled jobs."""
    chaos = report["policies"].get("ours", {}).get("chaos")
    if not chaos:
        return []
    return [
        f"chaos (ours): killed {', '.join(chaos['kills']) or 'nothing'}; "
        f"nats-server restarted {chaos['nats_restarts']}×; "
        f"lost {chaos['lost']}, doubled {chaos['doubled']}"
    ]


def render(report: dict[str, Any]) -> str:
    """The whole report as text."""
    c = report["campaign"]
    head = (
        f"campaign: {c['jobs']} jobs, {c['backends']} backends, seed {c['seed']}, "
        f"deadline {c['deadline_s']}s/job, stall window {c['stall_s']}s, "
        f"step {c['step_time_s']}s (simulated)"
    )
    parts = [head, "", overall_table(report), "", kind_table(report), *chaos_lines(report)]
    bar = report.get("bar")
    if bar is not None:
        verdict = "met" if not bar else "NOT met: " + "; ".join(bar)
        parts += ["", f"issue 12 bar for ours: {verdict}"]
    return "\n".join(parts)
