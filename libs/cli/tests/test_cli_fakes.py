"""The job, backend and dead-letter commands through `main([...])` without a server:
``nats.connect`` (the library's seam) hands the real `JobClient` an in-memory JetStream and
KV (libs/client/tests/jsfakes.py); the connect probe finds a socket that listens. What is
checked is what a user sees: stdout, stderr, the exit status, and what was published."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import nats
import pytest

from comfy_recovery import settings_doc
from comfy_recovery.cli import main
from comfy_recovery.errors import EXIT_JOB_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE
from contracts import JobStatus, JobView, codec, subjects
from contracts.backend import BackendHealth, BackendInventory
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.job import JobCancelRequested, JobRetryRequested, JobSubmitted
from contracts.readmodel import RecoveryStep, encode_view
from contracts.recovery import RecoveryDecided
from libs.client.tests.jsfakes import FakeNC
from services.recovery.tests.builders import ALL_MODELS, CORE_NODES, GIB, T0
from services.recovery.tests.unit.test_replay import history
from tests.support.samples import AT, SAMPLES, WORKFLOW

SUBMITTED, _, PROGRESS, COMPLETED = SAMPLES[:4]
ABORTED = next(e for e in SAMPLES if isinstance(e, RecoveryDecided) and e.terminal)


@pytest.fixture
def nc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeNC]:
    """CR_NATS_URL points at a listening socket; `nats.connect` returns the fake."""
    conn = FakeNC()

    async def connect(**_: Any) -> FakeNC:
        return conn

    monkeypatch.setattr(nats, "connect", connect)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the probe's connection waits in the backlog: enough
        port = listener.getsockname()[1]
        monkeypatch.setenv("CR_NATS_URL", f"nats://127.0.0.1:{port}")
        monkeypatch.setenv("CR_DATA_DIR", str(tmp_path / "data"))
        yield conn


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `comfy-recovery ARGV`."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def store(nc: FakeNC, *events: Any) -> None:
    for event in events:
        nc.js.stored.append((codec.subject_for(event), codec.encode(event), {}))


def published(nc: FakeNC) -> list[Any]:
    return [codec.decode(data) for _, data, _ in nc.js.stored]


async def put_view(nc: FakeNC, view: JobView) -> None:
    (await nc.js.key_value(subjects.KV_JOBS)).values[view.job_id] = encode_view(view)


def test_submit_prints_the_job_id_and_stores_the_submission(
    nc: FakeNC, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(WORKFLOW))
    argv = ["submit", str(path), "--param", "5.width=768", "--max-attempts", "2"]
    code, out, err = run([*argv, "--expect-output", "9"], capsys)
    assert code == 0, err
    [event] = published(nc)
    assert isinstance(event, JobSubmitted) and out == f"{event.job_id}\n"
    assert event.params == {"5.width": 768} and event.expected_outputs == ["9"]
    assert event.policy is not None and event.policy.max_attempts == 2


@pytest.mark.parametrize(
    ("content", "argv", "says"),
    [
        (None, [], "no such file"),
        ("{not json", [], "not valid JSON"),
        ('{"1": {"inputs": {}}}', [], "wf.json: "),
        (json.dumps(WORKFLOW), ["--param", "nothing"], "expected NODE.INPUT=VALUE"),
        (json.dumps(WORKFLOW), ["--param", "99.width=1"], "node 99"),
    ],
)
def test_submit_refuses_bad_input_before_sending(
    nc: FakeNC,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | None,
    argv: list[str],
    says: str,
) -> None:
    path = tmp_path / "wf.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run(["submit", str(path), *argv], capsys)
    assert code == EXIT_USAGE and out == ""
    assert err.startswith("comfy-recovery: error: ") and says in err
    assert nc.js.stored == []


def test_watch_follows_a_job_to_its_end_and_exits_by_outcome(
    nc: FakeNC, capsys: pytest.CaptureFixture[str]
) -> None:
    store(nc, SUBMITTED, PROGRESS, COMPLETED)
    code, out, err = run(["watch", "job-1"], capsys)
    assert code == 0 and out == "job-1 COMPLETED\n"
    lines = [line.strip() for line in err.split("\n") if line.strip()]
    assert [line.split(" ", 1)[1] for line in lines] == [  # no progress bar off a TTY
        "submitted (2 nodes)",
        "completed on b0: 1 output file(s)",
    ]
    nc.js.stored.clear()
    store(nc, SUBMITTED, ABORTED)
    code, out, err = run(["watch", "job-1"], capsys)
    assert code == EXIT_JOB_FAILED and out == "job-1 ABORTED\n"
    assert "→ m" in err  # the abort's user message


def test_history_lists_the_timeline_or_json_lines(
    nc: FakeNC, capsys: pytest.CaptureFixture[str]
) -> None:
    store(nc, SUBMITTED, PROGRESS, COMPLETED)
    code, out, _ = run(["history", "job-1"], capsys)
    assert code == 0 and len(out.splitlines()) == 2  # progress is left out
    code, out, _ = run(["history", "job-1", "--json"], capsys)
    assert [json.loads(line)["event_id"] for line in out.splitlines()] == [
        e.event_id for e in (SUBMITTED, PROGRESS, COMPLETED)
    ]
    code, out, err = run(["history", "nobody"], capsys)
    assert code == EXIT_NOT_FOUND and out == "" and "no job nobody" in err


def test_watch_refuses_a_job_that_does_not_exist(
    nc: FakeNC, capsys: pytest.CaptureFixture[str]
) -> None:
    """Following an unknown job would wait forever for its first event: it is refused."""
    code, out, err = run(["watch", "nobody"], capsys)
    assert code == EXIT_NOT_FOUND and out == "" and "no job nobody" in err


def test_status_shows_the_read_model(nc: FakeNC, capsys: pytest.CaptureFixture[str]) -> None:
    step = RecoveryStep(
        attempt=1,
        failure_class="GPU_OOM",
        strategy="reduce_params",
        reason="oom",
        success=True,
        at=AT,
    )
    view = JobView(
        job_id="job-1",
        status=JobStatus.ABORTED,
        attempt=2,
        abort_reason="out of memory",
        user_message="lower the batch",
        actionable_steps=["use --param 5.batch_size=1"],
        waiting_reason="no backend",
        backends_tried=["b0"],
        recovery_history=[step],
    )
    asyncio.run(put_view(nc, view))
    code, out, _ = run(["status", "job-1", "--json"], capsys)
    assert code == 0
    assert msgspec.json.decode(out.encode(), type=JobView) == view


def test_status_as_text(nc: FakeNC, capsys: pytest.CaptureFixture[str]) -> None:
    step = RecoveryStep(
        attempt=1,
        failure_class="GPU_OOM",
        strategy="reduce_params",
        reason="oom",
        success=True,
        at=AT,
    )
    view = JobView(
        job_id="job-1",
        status=JobStatus.ABORTED,
        abort_reason="out of memory",
        user_message="lower the batch",
        actionable_steps=["use a smaller batch"],
        waiting_reason="no backend",
        recovery_history=[step],
    )
    asyncio.run(put_view(nc, view))
    code, out, _ = run(["status", "job-1"], capsys)
    assert code == 0
    for text in ("job job-1: ABORTED", "no backend", "out of memory", "lower the batch"):
        assert text in out
    assert "- use a smaller batch" in out and "reduce_params" in out
    assert "backends tried: -" in out


def test_operator_actions_publish_or_refuse(nc: FakeNC, capsys: pytest.CaptureFixture[str]) -> None:
    store(nc, SUBMITTED)
    assert run(["cancel", "job-1", "--reason", "owner"], capsys)[:2] == (0, "ok\n")
    code, out, err = run(["retry", "job-1"], capsys)
    assert code == EXIT_REFUSED and out == "" and "refused" in err
    code, _, err = run(["retry", "nobody", "--force"], capsys)
    assert code == EXIT_NOT_FOUND and "no job nobody" in err
    assert run(["emergency-stop", "--reason", "maint"], capsys)[:2] == (0, "ok\n")
    assert run(["resume"], capsys)[:2] == (0, "ok\n")
    kinds = [type(e) for e in published(nc)]
    assert kinds == [JobSubmitted, JobCancelRequested, EmergencyStopRequested, DispatchResumed]
    assert JobRetryRequested not in kinds


def test_backends_lists_the_registry(nc: FakeNC, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["backends"], capsys)
    assert (code, out) == (0, "no backend has reported yet\n")
    kv = asyncio.run(nc.js.key_value(subjects.KV_BACKENDS))
    health = {"reachable": False, "error": "refused", "queue_running": 1, "queue_pending": 2}
    kv.values["b0.health"] = json.dumps(health).encode()
    breaker = {"state": "open", "reason": "3 failures", "open_until": 4e9, "calls": [[1, 2, "x"]]}
    kv.values["b0.breaker"] = json.dumps(breaker).encode()
    kv.values["b1.health"] = json.dumps({"reachable": True, "vram_free": 2**30}).encode()
    kv.values["b1.junk"] = b"{not json"
    code, out, _ = run(["backends", "--json"], capsys)
    rows = json.loads(out)
    assert [(r["id"], r["takes_work"], r["queue"]) for r in rows] == [
        ("b0", False, 3),
        ("b1", True, 0),
    ]
    code, out, _ = run(["backends"], capsys)
    assert "why: 3 failures" in out and "error: refused" in out
    assert "open (1/1 failed) until" in out and out.endswith("1 of 2 backend(s) take work\n")


def test_deadletters_reads_the_newest_with_their_reasons(
    nc: FakeNC, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["deadletters"], capsys)
    assert (code, out) == (0, "no dead letters\n")
    headers = {
        subjects.HDR_DLQ_REASON: "permanent: bad",
        subjects.HDR_DLQ_CONSUMER: "classifier-failures",
        subjects.HDR_DLQ_SUBJECT: "job.failed.job-1",
    }
    nc.js.dead[3] = SimpleNamespace(subject="deadletter.x", data=b"junk", headers=None)
    nc.js.dead[5] = SimpleNamespace(
        subject="deadletter.job.failed.job-1", data=codec.encode(SAMPLES[4]), headers=headers
    )
    code, out, _ = run(["deadletters", "--json", "--limit", "3"], capsys)
    letters = json.loads(out)
    assert [(d["seq"], d["event_type"], d["job_id"]) for d in letters] == [
        (3, None, None),
        (5, codec.type_tag(type(SAMPLES[4])), "job-1"),
    ]
    assert letters[0]["subject"] == "x" and letters[1]["reason"] == "permanent: bad"
    code, out, _ = run(["deadletters"], capsys)
    assert out.startswith("2 dead letter(s):") and "(undecodable job=-)" in out


def test_the_settings_table_names_every_variable_once(tmp_path: Path) -> None:
    table = settings_doc.markdown_table()
    names = [line.split("`")[1] for line in table.splitlines()[2:]]
    assert len(names) == len(set(names)) and "CR_NATS_URL" in names
    nats_url = next(line for line in table.splitlines() if "`CR_NATS_URL`" in line)
    assert "| all |" in nats_url
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{settings_doc.START}\nold\n{settings_doc.END}\nafter\n")
    settings_doc.rewrite(str(readme))
    text = readme.read_text()
    assert "\nold\n" not in text and text.startswith("before\n") and text.endswith("\nafter\n")
    assert table in text


def test_replay_reports_the_hand_computed_difference_over_fakes(
    nc: FakeNC, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The figures of the live test in test_replay_cmd.py, and nothing published."""
    env: dict[str, Any] = {"job_id": "-", "source": "monitor", "backend_id": "gpu-a"}
    before = T0 - timedelta(minutes=1)
    inventory = BackendInventory(
        event_id="inv-a",
        occurred_at=before,
        node_classes=sorted(CORE_NODES),
        models=ALL_MODELS,
        vram_total=8 * GIB,
        **env,
    )
    health = BackendHealth(event_id="health-a", occurred_at=before, reachable=True, **env)
    nc.js.telemetry = [codec.encode(inventory), b"{junk", codec.encode(health)]
    store(nc, *(event for events in history().values() for event in events))
    stored = len(nc.js.stored)
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"allow_degradation": True, "max_attempts": 2}))
    code, out, err = run(["replay", "--policy", str(policy), "--json"], capsys)
    assert code == 0, err
    printed = json.loads(out)
    assert printed["jobs"]["saved"] == 1 and printed["unreadable_jobs"] == 0
    assert printed["decisions"]["reproduced"] == {"checked": 5, "same": 5}
    assert printed["attempts"] == {"recorded": 6, "replayed": [7, 7]}
    assert printed["gpu_seconds"] == {"recorded": 110.0, "replayed": [140.0, 140.0]}
    code, out, _ = run(["replay", "--policy", str(policy), "--since", "2000-01-01"], capsys)
    assert "decisions changed: 1 of 5 (the recorded policy reproduces 5 of 5" in out
    assert "GPU_OOM: 1 of 3 (ABORT -> REDUCE_PARAMS x1)" in out
    assert "job oom-big: saved" in out
    late = (T0 + timedelta(hours=1)).isoformat()
    code, out, _ = run(["replay", "--policy", str(policy), "--since", late, "--json"], capsys)
    assert json.loads(out)["jobs"]["replayed"] == 0
    assert len(nc.js.stored) == stored and nc.js.consumers_left == []
