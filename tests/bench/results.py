"""The named figures of one `make bench` run, written to ``bench-results.json``.

Each benchmark prints its figures on stdout (and only them); the runner keeps that text and
reads every named figure out of it with one pattern per key, below (a number, or text for the
loop's bottleneck). A key whose benchmark was not run, failed, or printed no matching line is
``null``, and ``null_reasons`` says why, so the file never claims a figure that was not
measured in this run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """Where one named figure comes from: the benchmark's name and a pattern with one group."""

    bench: str
    pattern: str
    scale: float = 1.0
    text: bool = False
    """The group is kept as text (a named bottleneck), not read as a number."""


NUMBER = r"([-+]?[\d,]*\.?\d+)"
FIGURES: dict[str, Figure] = {
    "bus_publish_ratio": Figure("bus", rf"publish \(acked\).*ratio\s+{NUMBER}"),
    "bus_consume_ratio": Figure("bus", rf"pull-consume \+ ack.*ratio\s+{NUMBER}"),
    "edge_overhead_p50_ms": Figure("edge", rf"overhead\s+p50\s+{NUMBER} ms"),
    "classifier_per_s": Figure(
        "classifier", rf"in-process \(distinct messages, memo off\): {NUMBER} classifications/s"
    ),
    "decision_p99_ms_at_1000_per_s": Figure("decisions-1000", rf"p99\s+{NUMBER} ms"),
    "projector_ratio": Figure("analytics", rf"ratio projector / raw\s+{NUMBER}"),
    "loop_jobs_per_s": Figure("loop", rf"sustained\s+{NUMBER} jobs/s"),
    "loop_p50_ms_at_half": Figure("loop", rf"at 50 %.*p50\s+{NUMBER} ms"),
    "loop_p99_ms_at_half": Figure("loop", rf"at 50 %.*p99\s+{NUMBER} ms"),
    "loop_bottleneck": Figure("loop", r"^bottleneck: (.+)$", text=True),
    "scale_out_ratio": Figure("scale-out", rf"scale-out ratio\s+{NUMBER}"),
    "rebuild_1m_events_s": Figure(
        "rebuild", rf"rebuild from nats-server, whole stream \(replay \+ fold\): {NUMBER} s"
    ),
}


Value = float | str | None
"""A figure: a number, text, or None when it was not measured."""


def extract(outputs: dict[str, str | None]) -> tuple[dict[str, Value], dict[str, str]]:
    """Every named figure from the benchmarks' stdout (None: not run or failed)."""
    values: dict[str, Value] = {}
    reasons: dict[str, str] = {}
    for key, figure in FIGURES.items():
        text = outputs.get(figure.bench, "")
        if figure.bench not in outputs:
            values[key], reasons[key] = None, f"benchmark {figure.bench!r} was not run"
        elif text is None:
            values[key], reasons[key] = None, f"benchmark {figure.bench!r} failed"
        elif match := re.search(figure.pattern, text, re.MULTILINE):
            values[key] = read(match.group(1), figure)
        else:
            values[key] = None
            reasons[key] = f"benchmark {figure.bench!r} printed no line matching {figure.pattern!r}"
    return values, reasons


def read(found: str, figure: Figure) -> float | str:
    """The matched group as the figure's value: text as printed, or a scaled number."""
    return found.strip() if figure.text else float(found.replace(",", "")) * figure.scale


def context(root: Path) -> dict[str, Any]:
    """What the figures depend on: when, the commit, the cores and how loaded they were."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit or None,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def write(path: Path, outputs: dict[str, str | None], root: Path) -> dict[str, Any]:
    """Write ``bench-results.json`` (figures, reasons for the nulls, context); return it."""
    values, reasons = extract(outputs)
    document: dict[str, Any] = {**values, "null_reasons": reasons, "context": context(root)}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document
