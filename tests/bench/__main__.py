"""Run every benchmark in turn; each prints its figures next to a same-run baseline.

Only figures reach stdout: each benchmark runs under `tests.bench.quiet` (logs on stderr at
warning) with its stderr kept in ``.bench/<name>.log`` (shown when it fails). Temporary
files (NATS stores, chDB) go under ``.bench/tmp``, so nothing is written outside the repo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / ".bench"
BENCHES = [
    ("bus", "bus: publish + consume vs raw nats-py", "tests.bench.bus"),
    (
        "edge",
        "edge: submitter+monitor overhead vs posting straight to ComfyUI",
        "tests.bench.edge",
    ),
    ("classifier", "classifier", "services/classifier/bench/bench_classifier.py"),
    ("recovery", "recovery", "services/recovery/bench/bench_recovery.py"),
    ("decisions", "recovery: decision latency at 100 failures/s", "tests.bench.decisions"),
    (
        "analytics",
        "analytics: projector vs raw clickhouse-connect insert",
        "services/analytics/bench/bench_projector.py",
    ),
]


def bench_env(tmp: Path) -> dict[str, str]:
    """The environment of one benchmark: temporary files inside the repository."""
    env = dict(os.environ)
    env.update(TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp), PYTHONUNBUFFERED="1")
    return env


def run_one(name: str, target: str) -> bool:
    """Run one benchmark; its figures go to stdout, its log to ``.bench/<name>.log``."""
    if target.endswith(".py") and not (ROOT / target).exists():
        print("  (not present)")
        return True
    tmp = SCRATCH / "tmp" / name
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log = SCRATCH / f"{name}.log"
    with log.open("w") as err:
        code = subprocess.run(
            [sys.executable, "-m", "tests.bench.quiet", target],
            cwd=ROOT,
            env=bench_env(tmp),
            stderr=err,
        ).returncode
    shutil.rmtree(tmp, ignore_errors=True)
    if code:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(f"  failed with exit code {code}; last lines of {log.relative_to(ROOT)}:")
        print("\n".join(f"    {line}" for line in tail))
    return code == 0


def main(names: list[str]) -> None:
    """Run the named benchmarks (all when none is named)."""
    unknown = set(names) - {name for name, _, _ in BENCHES}
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    failed = []
    for name, title, target in BENCHES:
        if names and name not in names:
            continue
        print(f"\n== {title}", flush=True)
        if not run_one(name, target):
            failed.append(title)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
