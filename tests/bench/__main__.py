"""Run every benchmark in turn; each prints its figures next to a same-run baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHES = [
    ("bus: publish + consume vs raw nats-py", [sys.executable, "-m", "tests.bench.bus"]),
    (
        "edge: submitter+monitor overhead vs posting straight to ComfyUI",
        [sys.executable, "-m", "tests.bench.edge"],
    ),
    ("classifier", [sys.executable, "services/classifier/bench/bench_classifier.py"]),
    ("recovery", [sys.executable, "services/recovery/bench/bench_recovery.py"]),
    (
        "recovery: decision latency at 100 failures/s",
        [sys.executable, "-m", "tests.bench.decisions"],
    ),
    (
        "analytics: projector vs raw clickhouse-connect insert",
        [sys.executable, "services/analytics/bench/bench_projector.py"],
    ),
]


def main() -> None:
    failed = []
    for title, command in BENCHES:
        print(f"\n== {title}", flush=True)
        if not (ROOT / command[-1]).exists() and command[1] != "-m":
            print("  (not present)")
            continue
        code = subprocess.run(command, cwd=ROOT).returncode
        if code:
            failed.append(title)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
