"""The recovery charts, from analytics' statistics asked over the bus as ``stats`` does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from contracts.rpc import StatsUnavailableError
from cr_client.rpc import request_stats
from submitter.api.deps import Deps
from submitter.api.problems import Problem
from submitter.api.ui import auth, charts
from submitter.api.ui.render import page, problem_page

router = APIRouter(
    prefix="/ui", include_in_schema=False, dependencies=[Depends(auth.require_login)]
)
RANGES: Final = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
PERIODS: Final = 6
TOP_CLASSES: Final = 5


@router.get("/recovery")
async def recovery(request: Request, deps: Deps, period: str = "1h") -> HTMLResponse:
    """Recovery rate by class over time, MTTR, errors by class."""
    span = RANGES.get(period, RANGES["1h"])
    now = datetime.now(UTC)
    starts = [now - span + span * i / PERIODS for i in range(PERIODS)]
    try:
        overall = await request_stats(deps.client.bus, None, True)
        asks = (request_stats(deps.client.bus, start, False) for start in starts)
        windows = list(await asyncio.gather(*asks))
    except StatsUnavailableError as exc:
        problem = Problem(503, "Statistics unavailable", str(exc))
        return problem_page(request, problem, "/ui/recovery")
    classes = [row["failure_class"] for row in overall["by_class"]][:TOP_CLASSES]
    ends = [start + span / PERIODS for start in starts]
    labels = [end.strftime("%H:%M" if span <= RANGES["24h"] else "%m-%d %H:%M") for end in ends]
    series = rates_over_time(windows, classes)
    mttr = [(r["failure_class"], r["mttr_s"]) for r in overall["by_class"] if r["mttr_s"]]
    errors = list(overall["error_distribution"].items())
    wasted = [(r["failure_class"], r["gpu_seconds"]) for r in overall.get("wasted_gpu_seconds", [])]
    return page(
        request,
        "recovery.html",
        stats=overall,
        period=period if period in RANGES else "1h",
        ranges=list(RANGES),
        labels=labels,
        series=series,
        legend=charts.legend(list(series)),
        rate_chart=charts.line_chart(
            "Recovery rate by failure class per period", labels, series, _pct
        ),
        mttr_chart=charts.bar_chart("Mean time to recovery by class", mttr, _secs),
        errors_chart=charts.bar_chart("Failures by class", errors, lambda v: f"{v:.0f}"),
        wasted_chart=charts.bar_chart("GPU-seconds of failed attempts by class", wasted, _secs),
    )


def rates_over_time(
    windows: list[dict[str, Any]], classes: list[str]
) -> dict[str, list[float | None]]:
    """Recovery rate per class in each period, from statistics asked since each period's
    start: jobs whose first failure is in period i are those counted since start i and not
    since start i+1 (none: no judged job in that period)."""
    counts = [
        {r["failure_class"]: (r["recovered"], r["failed"]) for r in w["by_class"]} for w in windows
    ]
    series: dict[str, list[float | None]] = {}
    for name in classes:
        values: list[float | None] = []
        for i, period in enumerate(counts):
            later = counts[i + 1] if i + 1 < len(counts) else {}
            recovered = period.get(name, (0, 0))[0] - later.get(name, (0, 0))[0]
            failed = period.get(name, (0, 0))[1] - later.get(name, (0, 0))[1]
            judged = recovered + failed
            values.append(recovered / judged if judged > 0 else None)
        series[name] = values
    return series


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _secs(value: float) -> str:
    return f"{value:.1f} s"
