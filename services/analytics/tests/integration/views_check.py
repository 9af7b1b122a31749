"""The hand-computed expectations of `scripted.EXPECTED`, checked against a store's views."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.store import Store

from ..scripted import EXPECTED, RATE_FIELDS, T0


def rates_by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """Recovery-rate rows keyed by their dimension column, rate fields only."""
    return {str(r[key]): {f: r[f] for f in RATE_FIELDS} for r in rows}


def approx_rates(expected: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`expected` with float fields compared approximately."""
    return {
        k: {f: pytest.approx(v) if isinstance(v, float) else v for f, v in row.items()}
        for k, row in expected.items()
    }


async def assert_views_match(store: Store) -> None:
    """Every view agrees with the values computed by hand."""
    overall = await store.query("SELECT * FROM recovery_rate_overall")
    assert rates_by(overall, "jobs") == approx_rates({"6": EXPECTED["overall"]})
    for view, key, expected in (
        ("recovery_rate_by_class", "failure_class", EXPECTED["by_class"]),
        ("recovery_rate_by_strategy", "strategy", EXPECTED["by_strategy"]),
        ("recovery_rate_by_backend", "backend_id", EXPECTED["by_backend"]),
        ("recovery_rate_by_model", "model", EXPECTED["by_model"]),
    ):
        assert rates_by(await store.query(f"SELECT * FROM {view}"), key) == approx_rates(expected)
    by_day = await store.query("SELECT * FROM recovery_rate_by_day")
    assert rates_by(by_day, "day") == approx_rates({str(T0.date()): EXPECTED["overall"]})
    await _assert_jobs_and_attempts(store)
    await _assert_costs_and_unknowns(store)


async def _assert_jobs_and_attempts(store: Store) -> None:
    outcomes = await store.query("SELECT job_id, outcome FROM job_outcomes")
    assert {r["job_id"]: r["outcome"] for r in outcomes} == EXPECTED["outcomes"]
    mttr = await store.query("SELECT recovered_jobs, mttr_s FROM mean_time_to_recovery")
    assert mttr == [{"recovered_jobs": 2, "mttr_s": pytest.approx(44.5)}]
    j2 = await store.query(
        "SELECT attempt, backend_id, failure_class, strategy, outcome, gpu_seconds "
        "FROM attempts WHERE job_id = 'J2' ORDER BY attempt"
    )
    assert [tuple(r.values()) for r in j2] == [
        (1, "b1", "GPU_OOM", "REDUCE_PARAMS", "failed", 20.0),
        (2, "b2", "TIMEOUT", "RESUME", "failed", 10.0),
        (3, "b2", "UNKNOWN", "RETRY", "failed", 10.0),
        (4, "b1", "", "", "completed", 25.0),
    ]


async def _assert_costs_and_unknowns(store: Store) -> None:
    gpu = await store.query("SELECT sum(gpu_seconds) AS s FROM failed_attempt_gpu_seconds")
    assert gpu[0]["s"] == pytest.approx(EXPECTED["failed_gpu_seconds"])
    unknown = await store.query("SELECT unknown_rate FROM classifier_unknown_rate")
    assert unknown == [{"unknown_rate": pytest.approx(EXPECTED["unknown_rate"])}]
    messages = await store.query("SELECT message, occurrences FROM unknown_messages")
    assert [(r["message"], r["occurrences"]) for r in messages] == EXPECTED["unknown_messages"]
