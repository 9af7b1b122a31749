"""The seed-shaped stats dict from view rows, the request codec, and the text tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics.stats import build_stats
from analytics.stats_client import format_stats
from contracts.rpc import decode_request, encode_request

SINCE = datetime(2025, 1, 1, tzinfo=UTC)


def rates(
    dimension: str, value: str, jobs: int, recovered: int, failed: int, **kw: Any
) -> dict[str, Any]:
    row = {
        "dimension": dimension,
        "value": value,
        "jobs": jobs,
        "recovered": recovered,
        "failed": failed,
        "cancelled": 0,
        "in_progress": 0,
        "recovery_rate": None,
        "median_attempts": None,
        "mttr_s": None,
    }
    return row | kw


DISTRIBUTION = [
    {"failure_class": "TIMEOUT", "errors": 2},
    {"failure_class": "GPU_OOM", "errors": 5},
    {"failure_class": "UNKNOWN", "errors": 2},
]
RATES = [
    rates(
        "all",
        "all",
        6,
        3,
        1,
        cancelled=1,
        in_progress=1,
        recovery_rate=0.75,
        median_attempts=2.0,
        mttr_s=40.0,
    ),
    rates("class", "GPU_OOM", 4, 3, 0, recovery_rate=1.0, median_attempts=2.5, mttr_s=40.0),
    rates("class", "TIMEOUT", 2, 0, 1, recovery_rate=0.0, median_attempts=1.0),
    rates("backend", "b1", 3, 2, 1, recovery_rate=2 / 3),
    rates("strategy", "RETRY", 2, 1, 1, recovery_rate=0.5),
]


def test_stats_have_the_seed_shape_then_the_per_class_table() -> None:
    stats = build_stats(DISTRIBUTION, RATES, since=SINCE, detailed=False)
    assert list(stats)[:5] == [
        "since",
        "total_errors",
        "successful_recoveries",
        "failed_recoveries",
        "recovery_rate",
    ]
    assert (
        stats["total_errors"],
        stats["successful_recoveries"],
        stats["failed_recoveries"],
        stats["recovery_rate"],
    ) == (9, 3, 1, 0.75)
    assert list(stats["error_distribution"].items()) == [
        ("GPU_OOM", 5),
        ("TIMEOUT", 2),
        ("UNKNOWN", 2),
    ]
    assert [(r["failure_class"], r["errors"], r["jobs"]) for r in stats["by_class"]] == [
        ("GPU_OOM", 5, 4),
        ("TIMEOUT", 2, 2),
        ("UNKNOWN", 2, 0),
    ]
    assert stats["since"] == "2025-01-01T00:00:00+00:00"
    assert "by_backend" not in stats


def test_detailed_stats_add_backend_and_strategy_tables() -> None:
    stats = build_stats(DISTRIBUTION, RATES, since=None, detailed=True)
    assert stats["by_backend"] == [
        {"backend": "b1", **{k: v for k, v in RATES[3].items() if k not in ("dimension", "value")}}
    ]
    assert [r["strategy"] for r in stats["by_strategy"]] == ["RETRY"]


def test_no_data_gives_zeros_not_errors() -> None:
    stats = build_stats([], [], since=None, detailed=True)
    assert (stats["total_errors"], stats["recovery_rate"], stats["mttr_s"]) == (0, 0.0, None)
    assert stats["by_class"] == stats["by_backend"] == stats["by_strategy"] == []
    assert stats["error_distribution"] == {}


def test_format_shows_summary_distribution_and_class_table() -> None:
    text = format_stats(build_stats(DISTRIBUTION, RATES, since=SINCE, detailed=False), False)
    assert "Recovery statistics (since 2025-01-01T00:00:00+00:00)" in text
    assert "recovery rate          75.0%" in text
    assert "mean time to recovery  40.0 s" in text
    assert "GPU_OOM  5       4     3          0       100.0%  2.5              40.0 s" in text
    assert "UNKNOWN  2       0     0          0       n/a     n/a              n/a" in text
    assert "By backend" not in text


def test_detailed_format_adds_backend_and_strategy_tables() -> None:
    text = format_stats(build_stats(DISTRIBUTION, RATES, since=None, detailed=True), True)
    assert "(all time)" in text
    assert "By backend\n  backend  jobs  recovered  failed  rate   median attempts  MTTR" in text
    assert "  RETRY     2     1          1       50.0%" in text


def test_stats_request_round_trips_and_an_empty_body_asks_for_everything() -> None:
    request = decode_request(encode_request(SINCE, True))
    assert (request.since_utc(), request.detailed) == (SINCE, True)
    naive = decode_request(b'{"since": "2025-01-01T00:00:00", "detailed": false}')
    assert naive.since_utc() == SINCE
    assert (decode_request(b"").since_utc(), decode_request(b" ").detailed) == (None, False)
