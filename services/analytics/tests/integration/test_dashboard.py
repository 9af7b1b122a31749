"""The Grafana dashboard's queries run against the real views and show the scripted values."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from analytics.projection import dedup_token, to_row
from analytics.store import Store
from contracts import subjects

from ..scripted import EXPECTED, scripted_jobs

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).parents[4] / "deploy" / "grafana" / "comfy-recovery-analytics.json"


def panel_queries(database: str) -> dict[str, str]:
    """Panel title → its SQL, with Grafana's variables and time macro filled in."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {
        p["title"]: re.sub(r"\$__timeFilter\((\w+)\)", "1 = 1", p["targets"][0]["rawSql"]).replace(
            "${database}", database
        )
        for p in panels
    }


async def test_every_dashboard_query_runs_on_the_views_and_shows_the_scripted_values(
    store: Store,
) -> None:
    rows = [to_row(e, subjects.EVENTS_STREAM, n) for n, e in enumerate(scripted_jobs())]
    await store.insert(rows, dedup_token(rows))
    results: dict[str, list[dict[str, Any]]] = {}
    for title, sql in panel_queries(store.config.database).items():
        results[title] = await store.query(sql)
    assert results["Recovery rate"] == [{"recovery_rate": pytest.approx(0.5)}]
    assert results["Mean time to recovery"] == [{"mttr_s": pytest.approx(44.5)}]
    gpu = results["GPU seconds spent on failed attempts"]
    assert sum(r["gpu_seconds"] for r in gpu) == pytest.approx(EXPECTED["failed_gpu_seconds"])
    assert results["Classifier UNKNOWN rate"] == [{"unknown_rate": pytest.approx(0.3)}]
    assert len(results["Recovery by failure class"]) == len(EXPECTED["by_class"])
