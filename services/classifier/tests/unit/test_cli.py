"""`comfy-recovery classify`: JSON lines in, the same lines with the verdict out."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from classifier.cli import main, run_classify

ADDED = {
    "class",
    "error_code",
    "retryable",
    "severity",
    "rule",
    "features",
    "user_message",
    "actionable_steps",
}


def _run(text: str) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    status = run_classify(io.StringIO(text), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_line_comes_back_with_the_verdict_added() -> None:
    line = {
        "id": "x1",
        "surface": "execution_error",
        "exception_type": "torch.OutOfMemoryError",
        "message": "CUDA out of memory",
    }
    status, rows = _run(json.dumps(line) + "\n")
    assert status == 0
    assert rows[0]["id"] == "x1"
    assert set(rows[0]) >= ADDED
    assert rows[0]["class"] == "GPU_OOM"
    assert rows[0]["retryable"] is True


def test_a_malformed_line_gives_an_error_line_and_exit_code_1() -> None:
    good = json.dumps({"surface": "http", "http_status": 500})
    status, rows = _run(f"{good}\n{{not json\n[1, 2]\n{good}\n")
    assert status == 1
    assert [("error" in r) for r in rows] == [False, True, True, False]
    assert rows[1]["line"] == 2
    assert rows[3]["class"] == "BACKEND_ERROR"


def test_blank_lines_are_skipped() -> None:
    status, rows = _run("\n   \n")
    assert (status, rows) == (0, [])


def test_a_deeply_nested_line_is_an_error_line_not_a_crash() -> None:
    status, rows = _run("[" * 100_000 + "]" * 100_000 + "\n")
    assert status == 1
    assert "error" in rows[0]


def test_missing_keys_and_odd_types_are_classified() -> None:
    status, rows = _run('{"message": 12, "http_status": "abc", "traceback": "x"}\n{}\n')
    assert status == 0
    assert [r["class"] for r in rows] == ["UNKNOWN", "UNKNOWN"]


def test_unicode_and_lone_surrogates_survive_the_round_trip() -> None:
    line = '{"surface": "execution_error", "exception_type": "PermissionError", "message": "%s"}\n'
    status, rows = _run(line % "[WinError 5] 拒绝访问 \\ud800")
    assert status == 0
    assert rows[0]["class"] == "PERMISSION_DENIED"
    assert "拒绝访问" in rows[0]["message"]


def test_python_dash_m_classifier_classify_works() -> None:
    line = json.dumps(
        {"surface": "client", "exception_type": "httpx.ConnectError", "message": "refused"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "classifier", "classify"],
        input=f"{line}\nnope\n".encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    rows = [json.loads(x) for x in done.stdout.decode().splitlines()]
    assert done.returncode == 1
    assert rows[0]["class"] == "BACKEND_UNREACHABLE"
    assert "error" in rows[1]


def test_free_text_lines_alone_are_classified_through_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Operators paste logs: a line with only a message (surface `log` or none) is enough."""
    lines = [
        {"message": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"},
        {
            "surface": "log",
            "message": "invalid prompt: {'type': 'invalid_prompt', 'message': 'Cannot execute"
            " because a node is missing the class_type property.', 'details': \"Node ID '#3'\","
            " 'extra_info': {}}",
        },
        {"surface": "log", "message": "POST http://127.0.0.1:8188/prompt 400 (Bad Request)"},
    ]
    stdin = io.StringIO("".join(json.dumps(line) + "\n" for line in lines))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["classify"]) == 0
    rows = [json.loads(row) for row in capsys.readouterr().out.splitlines()]
    assert [(r["class"], r["retryable"]) for r in rows] == [
        ("GPU_OOM", True),
        ("INVALID_WORKFLOW", False),
        ("UNKNOWN", False),
    ]
    assert all(set(r) >= ADDED and r["user_message"] and r["actionable_steps"] for r in rows)
    assert rows[2]["features"]["rejected_prompt"] is True
