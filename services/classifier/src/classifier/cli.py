"""`comfy-recovery classify`: JSON lines of evidence in, the same lines with the verdict out."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from classifier.engine import Classification, classify
from classifier.rules import RuleSet

MAX_LINE_CHARS = 1_048_576


def run_classify(stdin: TextIO, stdout: TextIO, rules: RuleSet | None = None) -> int:
    """Classify every JSON line of `stdin` onto `stdout`.

    Each object comes back with class, error_code, retryable, severity, rule, confidence,
    features, user_message and actionable_steps added. A malformed line produces an
    ``{"error": ..., "line": n}`` line instead, and the exit code becomes 1.

    Returns:
        0 if every line was classified, 1 if any line was malformed.
    """
    status = 0
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        record, error = _parse(line)
        if record is None:
            status = 1
            _write(stdout, {"error": error, "line": number})
            continue
        _write(stdout, {**record, **_verdict(classify(record, rules))})
    return status


def _parse(line: str) -> tuple[dict[str, Any] | None, str]:
    if len(line) > MAX_LINE_CHARS:
        return None, f"line longer than {MAX_LINE_CHARS} characters"
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON: {str(exc)[:200]}"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    return record, ""


def _verdict(c: Classification) -> dict[str, Any]:
    return {
        "class": c.failure_class.value,
        "error_code": c.error_code,
        "retryable": c.retryable,
        "severity": c.severity.value,
        "rule": c.rule,
        "confidence": c.confidence,
        "features": c.features,
        "user_message": c.user_message,
        "actionable_steps": c.actionable_steps,
    }


def _write(stdout: TextIO, obj: dict[str, Any]) -> None:
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError, RecursionError):
        text = json.dumps(obj, ensure_ascii=True, default=str)
    stdout.write(text + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m classifier [classify]``: the CLI filter, or the service when no command."""
    parser = argparse.ArgumentParser(prog="classifier", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("classify", help="classify JSON lines from stdin to stdout")
    sub.add_parser("serve", help="run the classifier service (the default)")
    args = parser.parse_args(argv)
    if args.command == "classify":
        if isinstance(sys.stdin, io.TextIOWrapper):
            sys.stdin.reconfigure(errors="replace")
        return run_classify(sys.stdin, sys.stdout)
    from classifier.app import SERVICE, build
    from classifier.config import Settings
    from cr_runtime.service import main as run_main

    run_main(SERVICE, Settings, build)
    return 0
