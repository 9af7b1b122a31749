"""`comfy-recovery demo` on a stack named by CR_NATS_URL, without a server: the real
`JobClient` over the in-memory NATS of test_cli_fakes.py. Nothing runs the jobs, so each is
reported as TIMEOUT after the (tiny) timeout; what is checked is what was submitted, the
table on stdout and the exit status. And the refusal when CR_NATS_URL answers nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfy_recovery.demo import SCENARIOS
from comfy_recovery.errors import EXIT_JOB_FAILED, EXIT_UNAVAILABLE
from comfy_recovery.natsd import free_port
from contracts.job import JobSubmitted
from libs.cli.tests.test_cli_fakes import nc, published, run
from libs.client.tests.jsfakes import FakeNC

__all__ = ["nc"]  # the fixture


def test_demo_submits_every_scenario_and_reports_the_unfinished(
    nc: FakeNC, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CR_COMFYUI_URLS", f"b0=http://127.0.0.1:{free_port()}")  # faults: refused
    code, out, err = run(["demo", "--timeout", "0.01"], capsys)
    assert code == EXIT_JOB_FAILED, err
    submitted = [e for e in published(nc) if isinstance(e, JobSubmitted)]
    assert len(submitted) == len(SCENARIOS)
    for scenario, event in zip(SCENARIOS, submitted, strict=True):
        assert event.workflow == scenario.workflow() and event.policy == scenario.policy
        assert event.source == "demo"
    rows = out.splitlines()[2 : 2 + len(SCENARIOS)]
    assert [row.split()[0] for row in rows] == [s.name.split()[0] for s in SCENARIOS]
    assert all("TIMEOUT" in row for row in rows)
    assert "submitted 6 jobs" in err
    assert "FaceDetailerPro" in str(submitted[-1].workflow)  # the missing-node scenario


def test_demo_refuses_a_cr_nats_url_that_answers_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CR_NATS_URL", f"nats://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CR_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run(["demo"], capsys)
    assert code == EXIT_UNAVAILABLE and out == ""
    assert "CR_NATS_URL is set, so demo uses that stack and starts none" in err
