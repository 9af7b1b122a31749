"""The simulator as a separate process: `python -m comfysim`, as the launcher runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from comfysim.spec import GIB

ROOT = Path(__file__).resolve().parents[1]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "comfysim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _announced(process: subprocess.Popen[str], count: int) -> dict[str, str]:
    assert process.stdout is not None
    lines = [process.stdout.readline().split() for _ in range(count)]
    assert all(len(line) == 3 and line[0] == "backend" for line in lines), lines
    return {line[1]: line[2] for line in lines}


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=15)


def test_cli_runs_backends_until_sigterm() -> None:
    process = _start("--backends", "2", "--vram-gib", "24", "12")
    try:
        urls = _announced(process, 2)
        assert list(urls) == ["sim-1", "sim-2"]
        totals = [
            httpx.get(f"{url}/system_stats").json()["devices"][0]["vram_total"]
            for url in urls.values()
        ]
        assert totals == [24 * GIB, 12 * GIB]
    finally:
        assert _stop(process) == 0


def test_cli_reads_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "sims.json"
    spec = {"id": "big", "vram_total": 80 * GIB, "faults": [{"kind": "http500"}]}
    config.write_text(json.dumps([spec]))
    process = _start("--config", str(config))
    try:
        url = _announced(process, 1)["big"]
        reply = httpx.post(f"{url}/prompt", json={"prompt": {}})
        assert reply.status_code == 500
        assert httpx.get(f"{url}/sim/state").json()["faults_fired"][0]["kind"] == "http500"
    finally:
        assert _stop(process) == 0
