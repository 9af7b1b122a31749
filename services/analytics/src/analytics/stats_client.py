"""Statistics for people: the request goes through `contracts.rpc`; this renders the answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cr_client.rpc import request_stats as fetch_stats

__all__ = ["fetch_stats", "format_stats"]


def format_stats(stats: Mapping[str, Any], detailed: bool) -> str:
    """The stats as text tables for a terminal."""
    lines = [f"Recovery statistics ({_period(stats.get('since'))})", ""]
    lines += _table(("", ""), _summary(stats))
    distribution = stats.get("error_distribution") or {}
    lines += ["", "Error distribution"]
    counts = [(name, str(count)) for name, count in distribution.items()]
    lines += _table(("class", "errors"), counts) if counts else ["  none"]
    lines += ["", "By class"]
    lines += _rate_table("class", "failure_class", stats.get("by_class", []), errors=True)
    if detailed:
        for title, key, name in (
            ("By backend", "by_backend", "backend"),
            ("By strategy", "by_strategy", "strategy"),
        ):
            lines += ["", title, *_rate_table(name, name, stats.get(key, []), errors=False)]
    return "\n".join(lines) + "\n"


def _summary(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        ("total errors", str(stats.get("total_errors", 0))),
        ("successful recoveries", str(stats.get("successful_recoveries", 0))),
        ("failed recoveries", str(stats.get("failed_recoveries", 0))),
        ("recovery rate", _percent(stats.get("recovery_rate"))),
        ("mean time to recovery", _seconds(stats.get("mttr_s"))),
        ("median attempts", _number(stats.get("median_attempts"))),
        ("cancelled", str(stats.get("cancelled", 0))),
        ("in progress", str(stats.get("in_progress", 0))),
    ]


def _rate_table(
    label: str, key: str, rows: Sequence[Mapping[str, Any]], *, errors: bool
) -> list[str]:
    if not rows:
        return ["  none"]
    head = (label, *(("errors",) if errors else ()), "jobs", "recovered", "failed", "rate")
    body = [
        (
            str(row[key]),
            *((str(row.get("errors", 0)),) if errors else ()),
            str(row["jobs"]),
            str(row["recovered"]),
            str(row["failed"]),
            _percent(row["recovery_rate"]),
            _number(row["median_attempts"]),
            _seconds(row["mttr_s"]),
        )
        for row in rows
    ]
    return _table((*head, "median attempts", "MTTR"), body)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(head, *rows, strict=True)]
    lines = [head, *rows] if any(head) else list(rows)
    return [
        "  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in lines
    ]


def _period(since: Any) -> str:
    return f"since {since}" if since else "all time"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def _seconds(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1f} s"


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):g}"
