"""The command through `main([...])`, in process and without a stack: what it prints on
stdout and stderr and the exit status, for the paths that need no NATS (or find none)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from comfy_recovery.cli import main
from comfy_recovery.errors import EXIT_UNAVAILABLE, EXIT_USAGE
from comfy_recovery.natsd import free_port


@pytest.fixture(autouse=True)
def _nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NATS listens at CR_NATS_URL, and no stack file is found."""
    monkeypatch.setenv("CR_NATS_URL", f"nats://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CR_DATA_DIR", str(tmp_path / "data"))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `comfy-recovery ARGV`."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_classify_answers_each_line_and_flags_the_bad_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps({"message": "CUDA out of memory. Tried to allocate 2.00 GiB"}),
        "not json",
        json.dumps({"surface": "log", "message": "something nobody has seen before"}),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, _ = run(["classify"], capsys)
    answers = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # one line was not JSON
    assert [a.get("class") for a in answers] == ["GPU_OOM", None, "UNKNOWN"]
    assert answers[1]["line"] == 2 and answers[1]["error"].startswith("not JSON")


def test_a_bad_since_is_a_usage_error_before_any_connection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["stats", "--since", "yesterday", "--json"], capsys)
    assert code == EXIT_USAGE and out == ""
    assert err.strip() == "comfy-recovery: error: --since 'yesterday' is not an ISO date/time"


@pytest.mark.parametrize(
    "argv",
    [["status", "job-1", "--json"], ["history", "job-1"], ["cancel", "job-1"], ["backends"]],
)
def test_without_nats_every_command_says_so_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == EXIT_UNAVAILABLE, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("comfy-recovery: error: ")


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["frobnicate"], capsys)
    assert code == EXIT_USAGE and out == "" and "invalid choice" in err
