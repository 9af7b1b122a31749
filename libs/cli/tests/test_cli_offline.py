"""The CLI without a stack: refusals before anything is sent, exit codes, event names,
logging kept off stdout, and the stack file that finds a stack on moved ports."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from comfy_recovery import logs, render, stackfile
from comfy_recovery.cli import main
from comfy_recovery.connection import bus_settings
from comfy_recovery.demo import base_workflow
from comfy_recovery.errors import EXIT_UNAVAILABLE, EXIT_USAGE
from comfy_recovery.natsd import free_port
from contracts.control import DispatchResumed
from contracts.job import JobCancelRequested, JobRetryRequested
from contracts.recovery import Dispatch, RecoveryDecided
from contracts.taxonomy import Strategy

COMMAND = str(Path(sys.executable).with_name("comfy-recovery"))
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {"event_id": "e", "job_id": "j", "occurred_at": NOW, "source": "test"}


@pytest.fixture
def workflow_file(tmp_path: Path) -> str:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(base_workflow()))
    return str(path)


@pytest.fixture(autouse=True)
def _nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing listens here: a refusal must come before any connection attempt."""
    monkeypatch.setenv("CR_NATS_URL", f"nats://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CR_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--max-attempts", "0"], "--max-attempts 0"),
        (["--max-attempts", "51"], "--max-attempts 51"),
        (["--deadline", "-5"], "--deadline -5"),
        (["--deadline", "0"], "--deadline 0"),
        (["--fallback", "foo"], "--fallback 'foo'"),
        (["--fallback", "foo="], "--fallback 'foo='"),
        (["--fallback", "=bar"], "--fallback '=bar'"),
    ],
)
def test_submit_refuses_a_policy_the_api_refuses(
    workflow_file: str, flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["submit", workflow_file, *flags])
    out, err = capsys.readouterr()
    assert exit_.value.code == EXIT_USAGE
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("comfy-recovery: error: ") and named in lines[0], err


def test_a_valid_policy_goes_on_to_connect(
    workflow_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["submit", workflow_file, "--max-attempts", "3", "--fallback", "a.ckpt=b,c"])
    assert exit_.value.code == EXIT_UNAVAILABLE
    assert "cannot reach NATS" in capsys.readouterr().err


def test_demo_with_an_unreachable_nats_url_says_so_in_one_line() -> None:
    env = {**os.environ, "CR_NATS_URL": f"nats://127.0.0.1:{free_port()}"}
    done = subprocess.run(
        [COMMAND, "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_UNAVAILABLE, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "CR_NATS_URL" in done.stderr and "Traceback" not in done.stderr


def test_operator_events_have_human_names() -> None:
    cancel = JobCancelRequested(**BASE, reason="too slow", requested_by="cli")
    assert render.describe(cancel) == "cancel requested by cli: too slow"
    assert render.describe(JobRetryRequested(**BASE, force=True)) == "retry requested (forced)"
    assert render.describe(DispatchResumed(**BASE)) == "dispatch resumed"
    for event in (cancel, JobRetryRequested(**BASE), DispatchResumed(**BASE)):
        assert type(event).__name__ not in render.describe(event)


def test_an_event_without_a_sentence_still_reads_as_words() -> None:
    class JobParkedSomewhere:
        reason = "no backend has 24 GB free"

    assert render.describe(JobParkedSomewhere()) == (  # type: ignore[arg-type]
        "job parked somewhere: no backend has 24 GB free"
    )


def test_a_decision_to_wait_for_a_backend_says_so() -> None:
    wait = Dispatch(attempt=2, workflows=[{}], wait_until=NOW)
    decided = RecoveryDecided(
        **BASE,
        answers_event_id="f",
        strategy=Strategy.RETRY,
        reason="no backend can take it",
        actions=[wait],
    )
    assert "waiting for a usable backend (until 12:00:00)" in render.describe(decided)


def test_logs_go_to_stderr_at_warning_unless_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(0)
    structlog.get_logger("t").info("hidden.info")
    structlog.get_logger("t").warning("shown.warning")
    logging.getLogger("nats").info("hidden.stdlib")
    logging.getLogger("nats").warning("shown.stdlib")
    out, err = capsys.readouterr()
    assert out == ""
    assert "shown.warning" in err and "shown.stdlib" in err
    assert "hidden" not in err
    logs.configure(1)
    structlog.get_logger("t").info("now.shown")
    out, err = capsys.readouterr()
    assert out == "" and "now.shown" in err


def test_verbose_is_accepted_before_and_after_the_subcommand() -> None:
    from comfy_recovery.cli import parser

    assert parser().parse_args(["-v", "status", "x"]).verbose == 1
    assert parser().parse_args(["status", "x", "-vv"]).verbose == 2
    assert parser().parse_args(["status", "x"]).verbose == 0


def test_another_live_stack_file_is_never_deleted(tmp_path: Path) -> None:
    parent = os.getppid()  # alive, and not us
    stackfile.write(tmp_path, {"pid": parent, "nats_url": "nats://127.0.0.1:1"})
    stackfile.remove_if_mine(tmp_path)
    assert stackfile.live(tmp_path) is not None
    stackfile.write(tmp_path, {"pid": os.getpid(), "nats_url": "nats://127.0.0.1:1"})
    stackfile.remove_if_mine(tmp_path)
    assert stackfile.read(tmp_path) is None


def test_a_dead_stack_file_is_not_live(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stackfile.write(tmp_path, {"pid": child.pid, "nats_url": "nats://127.0.0.1:1"})
    assert stackfile.live(tmp_path) is None


def test_commands_find_a_live_stack_on_moved_ports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    stackfile.write(data, {"pid": os.getpid(), "nats_url": "nats://127.0.0.1:14222"})
    monkeypatch.delenv("CR_NATS_URL")
    assert bus_settings().url == "nats://127.0.0.1:14222"
    monkeypatch.setenv("CR_NATS_URL", "nats://127.0.0.1:15222")
    assert bus_settings().url == "nats://127.0.0.1:15222"


@pytest.mark.parametrize(("name", "value"), [("CR_SIM_BACKENDS", "abc"), ("CR_SIM_BACKENDS", "0")])
def test_up_refuses_a_malformed_setting_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        main(["up"])
    assert exit_.value.code == EXIT_USAGE
    assert name in capsys.readouterr().err
