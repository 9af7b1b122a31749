"""Run every benchmark in turn; each prints its figures next to a same-run baseline.

Only figures reach stdout: each benchmark runs under `tests.bench.quiet` (logs on stderr at
warning) with its stderr kept in ``.bench/<name>.log`` (shown when it fails). Temporary
files (NATS stores, chDB) go under ``.bench/tmp``, so nothing is written outside the repo.
The named figures of the run go to ``bench-results.json`` (`tests.bench.results`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.bench import results

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / ".bench"
RESULTS = ROOT / "bench-results.json"
RECOVERY_BENCH = "services/recovery/bench/bench_recovery.py"
# (name, title, module or script, arguments)
BENCHES: list[tuple[str, str, str, list[str]]] = [
    ("bus", "bus: publish + consume vs raw nats-py", "tests.bench.bus", []),
    (
        "edge",
        "edge: submitter+monitor overhead vs posting straight to ComfyUI",
        "tests.bench.edge",
        [],
    ),
    ("classifier", "classifier", "services/classifier/bench/bench_classifier.py", []),
    ("recovery", "recovery", RECOVERY_BENCH, []),
    ("decisions", "recovery: decision latency at 100 failures/s", "tests.bench.decisions", []),
    (
        "decisions-1000",
        "recovery: decision latency at 1,000 failures/s",
        "tests.bench.decisions",
        ["--rate", "1000", "--count", "3000", "--lanes", "256"],
    ),
    (
        "analytics",
        "analytics: projector vs raw clickhouse-connect insert",
        "services/analytics/bench/bench_projector.py",
        [],
    ),
    (
        "rebuild",
        "recovery: state rebuild from 1,000,000 events on nats-server",
        RECOVERY_BENCH,
        ["--events", "1000000", "--nats"],
    ),
    (
        "loop",
        "loop: jobs/s the whole system sustains (8 fast simulated backends), and its bottleneck",
        "tests.bench.loop",
        [],
    ),
    (
        "scale-out",
        "scale-out: the loop's ramp on comfy-recovery up --instances 2 vs one instance of each",
        "tests.bench.loop",
        ["--scale-out"],
    ),
]


def bench_env(tmp: Path) -> dict[str, str]:
    """The environment of one benchmark: temporary files inside the repository."""
    env = dict(os.environ)
    env.update(TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp), PYTHONUNBUFFERED="1")
    return env


def run_one(name: str, target: str, args: list[str]) -> str | None:
    """Run one benchmark; its figures go to stdout (and are returned: None when it
    failed), its log to ``.bench/<name>.log``."""
    if target.endswith(".py") and not (ROOT / target).exists():
        print("  (not present)")
        return ""
    tmp = SCRATCH / "tmp" / name
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log = SCRATCH / f"{name}.log"
    lines: list[str] = []
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.quiet", target, *args],
            cwd=ROOT,
            env=bench_env(tmp),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        code = proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    if code:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(f"  failed with exit code {code}; last lines of {log.relative_to(ROOT)}:")
        print("\n".join(f"    {line}" for line in tail))
        return None
    return "".join(lines)


def main(names: list[str]) -> None:
    """Run the named benchmarks (all when none is named)."""
    unknown = set(names) - {name for name, _, _, _ in BENCHES}
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    failed = []
    outputs: dict[str, str | None] = {}
    for name, title, target, args in BENCHES:
        if names and name not in names:
            continue
        print(f"\n== {title}", flush=True)
        outputs[name] = run_one(name, target, args)
        if outputs[name] is None:
            failed.append(title)
    document = results.write(RESULTS, outputs, ROOT)
    print(f"\n== {RESULTS.name}")
    for key in results.FIGURES:
        print(f"  {key:<32} {document[key]}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
