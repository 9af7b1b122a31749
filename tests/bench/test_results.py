"""bench-results.json: every named figure read from the lines the benchmarks print."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench import results

OUTPUTS: dict[str, str | None] = {
    "bus": (
        "  publish (acked)      raw     10000/s   ours      9300/s   ratio  0.93\n"
        "  pull-consume + ack   raw     20000/s   ours     18000/s   ratio  0.90\n"
    ),
    "edge": "  overhead             p50    +12.5 ms   p95    +20.0 ms   ratio  1.10\n",
    "classifier": (
        "classifier in-process (distinct messages, memo off): 21,345 classifications/s per"
        " CPU-second (median of 5 rounds)\n"
    ),
    "decisions-1000": "  p50     9.0 ms   p99    41.5 ms   max    60.0 ms\n",
    "analytics": "ratio projector / raw     0.57\n",
    "rebuild": "rebuild from nats-server, whole stream (replay + fold): 18.25 s\n",
    "loop": (
        "  sustained       30 jobs/s (every job completed, none failed, p99 within limit)\n"
        "bottleneck: submitter (submit→dispatched p50 34 → 2435 ms at 40 jobs/s)\n"
        "  at 50 % (15 jobs/s, 225 jobs)   p50    89.5 ms   p99  3475.5 ms   (all completed)\n"
    ),
    "scale-out": "  scale-out ratio  1.33 (40 jobs/s with 2 instances of every service, 30 with 1)",
}


def test_every_printed_figure_is_read_numbers_as_numbers_and_the_bottleneck_as_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bench-results.json"
    results.write(path, OUTPUTS, tmp_path)
    document = json.loads(path.read_text())
    assert document["bus_publish_ratio"] == 0.93
    assert document["bus_consume_ratio"] == 0.90
    assert document["edge_overhead_p50_ms"] == 12.5
    assert document["classifier_per_s"] == 21345
    assert document["decision_p99_ms_at_1000_per_s"] == 41.5
    assert document["projector_ratio"] == 0.57
    assert document["rebuild_1m_events_s"] == 18.25
    assert document["loop_jobs_per_s"] == 30
    assert document["loop_p50_ms_at_half"] == 89.5
    assert document["loop_p99_ms_at_half"] == 3475.5
    assert document["loop_bottleneck"] == (
        "submitter (submit→dispatched p50 34 → 2435 ms at 40 jobs/s)"
    )
    assert document["scale_out_ratio"] == 1.33
    assert document["null_reasons"] == {}
    assert set(results.FIGURES) <= set(document)
    assert document["context"]["cpus"] >= 1


def test_a_failed_or_skipped_bench_gives_null_saying_which() -> None:
    values, reasons = results.extract({"bus": None})
    assert values["bus_publish_ratio"] is None
    assert "failed" in reasons["bus_publish_ratio"]
    assert "not run" in reasons["edge_overhead_p50_ms"]
    assert "not run" in reasons["loop_bottleneck"]


def test_a_bench_that_printed_no_matching_line_gives_null_naming_the_pattern() -> None:
    values, reasons = results.extract({"bus": "nothing here\n"})
    assert values["bus_publish_ratio"] is None
    assert "no line matching" in reasons["bus_publish_ratio"]
