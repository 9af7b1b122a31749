"""`comfy-recovery campaign` through `main([...])` with the client-side policies on the
in-process simulator fleet (no NATS, no services): two jobs (one clean, one with a corrupt
model on its first backend), the tables and the JSON report. Outcomes depend on timing, so
only what every run must show is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comfy_recovery.campaign.metrics import ABORTED, COMPLETED, UNFINISHED
from comfy_recovery.cli import main

TINY = ["campaign", "--jobs", "2", "--backends", "2", "--arrival-window", "0", "--deadline", "10"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_a_tiny_campaign_reports_every_job_under_each_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run([*TINY, "--policies", "none,seed", "--json", "-"], capsys)
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    assert report["campaign"]["jobs"] == 2 and report["campaign"]["policies"] == ["none", "seed"]
    assert "bar" not in report  # the bar compares ours with naive and seed
    for policy in ("none", "seed"):
        jobs = report["policies"][policy]["jobs"]
        assert [j["kind"] for j in jobs] == ["clean", "corrupt_model"]
        assert all(j["status"] in (COMPLETED, ABORTED, UNFINISHED) for j in jobs)
        assert report["policies"][policy]["by_kind"]["all"]["jobs"] == 2
    assert all(j["dispatches"] <= 1 for j in report["policies"]["none"]["jobs"])  # no retry
    assert "[campaign] seed: done in" in err
    assert "policy  completed" in err  # the tables go to stderr when stdout holds the JSON


def test_the_report_is_written_where_asked_or_the_failure_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "figures.json"
    one = ["campaign", "--jobs", "1", "--backends", "1", "--policies", "none", "--deadline", "10"]
    code, out, err = run([*one, "--json", str(target)], capsys)
    assert code == 0, err
    assert "policy  completed" in out
    assert json.loads(target.read_text())["campaign"]["jobs"] == 1
    code, _, err = run([*one, "--json", str(tmp_path / "missing" / "figures.json")], capsys)
    assert code == 2 and "comfy-recovery: error: cannot write" in err
