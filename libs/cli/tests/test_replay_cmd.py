"""``comfy-recovery replay`` over a small recorded history on a real nats-server: the same
figures as the hand-computed unit cases, and nothing published."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from comfy_recovery.cli import main
from comfy_recovery.replay_cmd import replay
from contracts import BusSettings, subjects
from contracts.backend import BackendHealth, BackendInventory
from contracts.policy import RecoveryPolicy
from cr_client import Bus
from recovery.replay import override
from recovery.replay_report import summarize
from services.recovery.tests.builders import ALL_MODELS, CORE_NODES, GIB, T0
from services.recovery.tests.unit.test_replay import DEGRADE_2, history

COMMAND = str(Path(sys.executable).with_name("comfy-recovery"))


async def _record(bus: Bus) -> None:
    """The unit tests' three jobs, and gpu-a's telemetry from before them."""
    env: dict[str, Any] = {"job_id": "-", "source": "monitor", "backend_id": "gpu-a"}
    before = T0 - timedelta(minutes=1)
    await bus.publish(
        BackendInventory(
            event_id="inv-a",
            occurred_at=before,
            node_classes=sorted(CORE_NODES),
            models=ALL_MODELS,
            vram_total=8 * GIB,
            **env,
        )
    )
    await bus.publish(BackendHealth(event_id="health-a", occurred_at=before, reachable=True, **env))
    for events in history().values():
        for event in events:
            await bus.publish(event)


async def _last_seqs(bus: Bus) -> dict[str, int]:
    seqs = {}
    for stream in (subjects.EVENTS_STREAM, subjects.TELEMETRY_STREAM):
        info = await bus.js.stream_info(stream)
        seqs[stream] = int(info.state.last_seq or 0)
        seqs[f"{stream} consumers"] = int(info.state.consumer_count or 0)
    return seqs


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CR_NATS_URL": url}
    return subprocess.run(
        [COMMAND, "replay", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
async def test_replay_reports_the_hand_computed_difference_and_publishes_nothing(
    bus: Bus, bus_settings: BusSettings, tmp_path: Path
) -> None:
    await _record(bus)
    before = await _last_seqs(bus)

    jobs, unreadable = await replay(bus, override(DEGRADE_2), None, None)
    report = summarize(jobs)
    assert unreadable == 0
    assert report["jobs"]["saved"] == 1 and report["jobs"]["aborted_earlier"] == 0
    assert report["decisions"]["changed"] == 1
    # The live default (none in KV: recovery's configured one) reproduces every decision
    # on the backends rebuilt from telemetry.
    assert report["decisions"]["reproduced"] == {"checked": 5, "same": 5}
    assert report["attempts"] == {"recorded": 6, "replayed": [7, 7]}
    assert report["gpu_seconds"] == {"recorded": 110.0, "replayed": [140.0, 140.0]}

    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"allow_degradation": True, "max_attempts": 2}))
    done = await asyncio.to_thread(_cli, bus_settings.url, "--policy", str(policy), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)  # JSON only on stdout
    assert printed["jobs"] == report["jobs"]
    assert printed["attempts"] == report["attempts"]
    assert printed["gpu_seconds"] == report["gpu_seconds"]
    assert {j["job_id"]: j["verdict"] for j in printed["differing_jobs"]} == {
        "oom-big": "saved",
    }

    human = await asyncio.to_thread(_cli, bus_settings.url, "--policy", str(policy))
    assert human.returncode == 0, human.stderr
    assert "decisions changed: 1 of 5 (the recorded policy reproduces 5 of 5" in human.stdout
    assert "GPU_OOM: 1 of 3 (ABORT -> REDUCE_PARAMS x1)" in human.stdout
    assert "job oom-big: saved" in human.stdout

    assert await _last_seqs(bus) == before  # nothing published, no consumer left behind


@pytest.mark.integration
async def test_the_window_selects_jobs_by_failure_time(bus: Bus) -> None:
    await _record(bus)
    late = T0 + timedelta(hours=1)
    jobs, _ = await replay(bus, override(DEGRADE_2), late, None)
    assert jobs == []
    # oom-batch fails at T0+10 s and T0+40 s; oom-big at T0+40 s; unreachable at 5 s, 15 s.
    jobs, _ = await replay(bus, override(DEGRADE_2), T0 + timedelta(seconds=6), None)
    assert sorted(j.job_id for j in jobs) == ["oom-batch", "oom-big", "unreachable"]
    jobs, _ = await replay(bus, override(DEGRADE_2), T0 + timedelta(seconds=16), None)
    assert sorted(j.job_id for j in jobs) == ["oom-batch", "oom-big"]
    jobs, _ = await replay(bus, override(DEGRADE_2), None, T0 + timedelta(seconds=6))
    assert [j.job_id for j in jobs] == ["unreachable"]


@pytest.fixture(autouse=True)
def _no_nats_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs point at a port nothing listens on (live tests pass their own)."""
    monkeypatch.setenv("CR_NATS_URL", "nats://127.0.0.1:1")


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command in this process (a bad input is refused before NATS is reached)."""
    with pytest.raises(SystemExit) as exited:
        main(["replay", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{", "not a JSON file"),
        ("[1]", "expected a JSON object"),
        ('{"allow_degredation": true}', "unknown policy field(s): allow_degredation"),
        ('{"max_attempts": "five"}', "Expected `int`"),
        ('{"max_attempts": 0}', "max_attempts must be at least 1"),
    ],
)
def test_a_bad_policy_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "p.json"
    if content is not None:
        path.write_text(content)
    code, out, err = _main(capsys, "--policy", str(path))
    assert code == 2
    assert message in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_a_bad_time_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    path.write_text("{}")
    code, _, err = _main(capsys, "--policy", str(path), "--since", "last week")
    assert code == 2 and "--since 'last week'" in err


def test_no_nats_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    path.write_text("{}")
    code, out, err = _main(capsys, "--policy", str(path), "--json")
    assert code == 3 and "cannot reach NATS" in err and out == ""


@pytest.mark.integration
async def test_the_reproduction_check_uses_the_live_default_policy(bus: Bus) -> None:
    """An operator's live default of one attempt (in KV) is not what decided the recorded
    split (oom-batch, attempt 1) and the two RETRYs (unreachable, attempts 1 and 2): only
    the two recorded ABORTs are reproduced."""
    await _record(bus)
    kv = await bus.kv(subjects.KV_POLICY)
    await kv.put(subjects.POLICY_KEY, msgspec.json.encode(RecoveryPolicy(max_attempts=1)))
    jobs, _ = await replay(bus, override(DEGRADE_2), None, None)
    assert summarize(jobs)["decisions"]["reproduced"] == {"checked": 5, "same": 2}
