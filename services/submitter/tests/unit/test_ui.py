"""The console's pure parts: rates per period from cumulative statistics, the SVG charts,
the policy form, the parameter diff and where a login may send the browser back to."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import JobStatus, JobView
from submitter.api.ui import charts
from submitter.api.ui.auth import safe_next
from submitter.api.ui.present import param_rows
from submitter.api.ui.recovery_page import rates_over_time
from submitter.api.ui.replay_page import _error_line, arguments


def window(**by_class: tuple[int, int]) -> dict[str, object]:
    rows = [{"failure_class": c, "recovered": r, "failed": f} for c, (r, f) in by_class.items()]
    return {"by_class": rows}


def test_rates_per_period_are_the_differences_of_the_counts_since_each_start() -> None:
    # since start 0: 5 recovered, 3 aborted; since start 1: 2 and 2; since start 2: 2 and 0
    windows = [
        window(GPU_OOM=(5, 3), TIMEOUT=(1, 0)),
        window(GPU_OOM=(2, 2)),
        window(GPU_OOM=(2, 0)),
    ]
    series = rates_over_time(windows, ["GPU_OOM", "TIMEOUT"])
    # period 0: 3 recovered, 1 aborted; period 1: 0 and 2; period 2: 2 and 0
    assert series["GPU_OOM"] == [0.75, 0.0, 1.0]
    assert series["TIMEOUT"] == [1.0, None, None], "no judged job in a period: a gap"


def test_charts_are_svg_images_with_titles_and_no_data_is_said() -> None:
    bars = str(charts.bar_chart("MTTR", [("GPU_OOM", 2.0), ("TIMEOUT", 1.0)], str))
    assert bars.startswith("<svg") and 'role="img"' in bars and "<title>MTTR</title>" in bars
    assert bars.count("<rect") == 2 and "GPU_OOM: 2.0" in bars
    lines = str(charts.line_chart("Rate", ["a", "b", "c"], {"X": [0.5, None, 1.0]}, str))
    assert lines.count("<circle") == 2 and "<polyline" not in lines, "a gap splits the line"
    assert "no data yet" in str(charts.bar_chart("Empty", [], str))
    assert "&lt;b&gt;" in str(charts.bar_chart("t", [("<b>", 1.0)], str)), "labels are escaped"


def test_the_replay_form_becomes_the_commands_arguments_and_its_error_line() -> None:
    form = {"since": " 2026-01-01 ", "until": "", "mode": "as_default"}
    assert arguments(form, "/tmp/p.json") == [
        "replay",
        "--policy",
        "/tmp/p.json",
        "--json",
        "--since",
        "2026-01-01",
        "--as-default",
    ]
    assert arguments({"mode": "override"}, "p")[-1] == "--json"
    stderr = "a warning\ncomfy-recovery: error: /tmp/x/policy.json: unknown policy field(s): c\n"
    said = _error_line(stderr, "/tmp/x/policy.json")
    assert said == "the policy: unknown policy field(s): c"


def test_parameters_show_original_and_current_and_what_changed() -> None:
    view = JobView(
        job_id="j",
        status=JobStatus.COMPLETED,
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
        original_params={"5.width": 1024, "3.steps": 30},
        current_params={"5.width": 768, "3.steps": 30, "batch_part_size": 4},
    )
    assert param_rows(view) == [
        ("3.steps", 30, 30, False),
        ("5.width", 1024, 768, True),
        ("batch_part_size", "—", 4, True),
    ]


def test_after_login_only_console_pages_are_destinations() -> None:
    assert safe_next("/ui/jobs/x?live=true") == "/ui/jobs/x?live=true"
    assert safe_next("https://elsewhere.example/") == "/ui/jobs"
    assert safe_next("//elsewhere.example/ui") == "/ui/jobs"
