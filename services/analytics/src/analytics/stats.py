"""Recovery statistics: the SQL over the views, and the seed-shaped dict built from its rows.

Shape (``recovery_rate`` is a fraction in [0, 1]; seconds are floats):
``total_errors`` (classified failures), ``successful_recoveries`` / ``failed_recoveries``
(jobs that met a failure and then completed / were aborted), ``recovery_rate``,
``error_distribution`` (class → failures), then ``jobs_with_errors``, ``cancelled``,
``in_progress``, ``median_attempts``, ``mttr_s``, ``by_class`` rows, and with ``detailed``
``by_backend`` and ``by_strategy`` rows, ``wasted_gpu_seconds`` (failed attempts and their
GPU-seconds per class, from the day of ``since``) and the top ``unknown_messages`` (all time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
DISTRIBUTION_SQL: Final = """
SELECT failure_class, count() AS errors
FROM failures
WHERE occurred_at >= {since:DateTime64(6, 'UTC')}
GROUP BY failure_class
"""
RATES_SQL: Final = """
SELECT dimension, value, jobs, recovered, failed, cancelled, in_progress,
       recovery_rate, median_attempts, mttr_s
FROM recovery_rates_since(since = {since:DateTime64(6, 'UTC')})
WHERE dimension IN {dimensions:Array(String)}
"""
RATE_FIELDS: Final = (
    "jobs",
    "recovered",
    "failed",
    "cancelled",
    "in_progress",
    "recovery_rate",
    "median_attempts",
    "mttr_s",
)
WASTED_SQL: Final = """
SELECT failure_class, sum(failed_attempts) AS failed_attempts, sum(gpu_seconds) AS gpu_seconds
FROM failed_attempt_gpu_seconds
WHERE day >= toDate({since:DateTime64(6, 'UTC')})
GROUP BY failure_class
ORDER BY gpu_seconds DESC, failure_class
"""
UNKNOWN_SQL: Final = "SELECT message, occurrences, jobs, last_seen FROM unknown_messages LIMIT 10"
COUNT_FIELDS: Final = RATE_FIELDS[:5]
NO_JOBS: Final[Mapping[str, Any]] = {
    **dict.fromkeys(COUNT_FIELDS, 0),
    **dict.fromkeys(RATE_FIELDS[5:], None),
}
"""The rate fields of a dimension value no job has."""
DETAIL_TABLES: Final = {"backend": "by_backend", "strategy": "by_strategy"}
"""Dimension → key of its table in the detailed stats."""


class Queryable(Protocol):
    """What stats needs from the store."""

    async def query(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...


async def collect_stats(store: Queryable, since: datetime | None, detailed: bool) -> dict[str, Any]:
    """Run the stats queries and shape their rows (see the module docstring)."""
    params: dict[str, Any] = {"since": since or EPOCH}
    dimensions = ["all", "class", *(DETAIL_TABLES if detailed else ())]
    distribution = await store.query(DISTRIBUTION_SQL, params)
    rates = await store.query(RATES_SQL, {**params, "dimensions": dimensions})
    stats = build_stats(distribution, rates, since=since, detailed=detailed)
    if detailed:
        wasted = await store.query(WASTED_SQL, params)
        stats["wasted_gpu_seconds"] = [
            {
                "failure_class": str(r["failure_class"]),
                "failed_attempts": int(r["failed_attempts"]),
                "gpu_seconds": float(r["gpu_seconds"] or 0.0),
            }
            for r in wasted
        ]
        unknown = await store.query(UNKNOWN_SQL)
        stats["unknown_messages"] = [
            {
                "message": str(r["message"]),
                "occurrences": int(r["occurrences"]),
                "jobs": int(r["jobs"]),
                "last_seen": str(r["last_seen"]),
            }
            for r in unknown
        ]
    return stats


def build_stats(
    distribution: Sequence[Mapping[str, Any]],
    rates: Sequence[Mapping[str, Any]],
    *,
    since: datetime | None,
    detailed: bool,
) -> dict[str, Any]:
    """The stats dict from the distribution rows and the recovery-rate rows (pure)."""
    errors = {str(r["failure_class"]): int(r["errors"]) for r in distribution}
    errors = dict(sorted(errors.items(), key=lambda item: (-item[1], item[0])))
    overall = _overall(rates)
    stats: dict[str, Any] = {
        "since": since.isoformat() if since else None,
        "total_errors": sum(errors.values()),
        "successful_recoveries": overall["recovered"],
        "failed_recoveries": overall["failed"],
        "recovery_rate": overall["recovery_rate"] or 0.0,
        "error_distribution": errors,
        "jobs_with_errors": overall["jobs"],
        "cancelled": overall["cancelled"],
        "in_progress": overall["in_progress"],
        "median_attempts": overall["median_attempts"],
        "mttr_s": overall["mttr_s"],
        "by_class": _by_class(rates, errors),
    }
    if detailed:
        for dimension, key in DETAIL_TABLES.items():
            stats[key] = _table(rates, dimension, dimension)
    return stats


def _overall(rates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    found = (_rate_fields(row) for row in rates if row["dimension"] == "all")
    return next(found, dict(NO_JOBS))


def _by_class(
    rates: Sequence[Mapping[str, Any]], errors: Mapping[str, int]
) -> list[dict[str, Any]]:
    rows = {r["failure_class"]: r for r in _table(rates, "class", "failure_class")}
    for failure_class in errors:
        rows.setdefault(failure_class, {"failure_class": failure_class, **NO_JOBS})
    table = [{**row, "errors": errors.get(name, 0)} for name, row in rows.items()]
    return sorted(table, key=lambda row: (-row["errors"], -row["jobs"], row["failure_class"]))


def _table(rates: Sequence[Mapping[str, Any]], dimension: str, name: str) -> list[dict[str, Any]]:
    rows = [
        {name: row["value"], **_rate_fields(row)} for row in rates if row["dimension"] == dimension
    ]
    return sorted(rows, key=lambda row: (-row["jobs"], row[name]))


def _rate_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    counts = {field: int(row[field]) for field in COUNT_FIELDS}
    ratios = {field: _float(row[field]) for field in RATE_FIELDS[5:]}
    return {**counts, **ratios}


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
