"""Logging follows sys.stderr: a stream replaced and closed after logging was configured (a
redirection, pytest's capture of an earlier in-process CLI run) must never be written to."""

from __future__ import annotations

import io
import logging
import sys

import pytest
import structlog

from comfy_recovery.logs import configure


def test_logs_go_to_the_current_stderr_not_the_one_configured_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure(0)
    first.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    structlog.get_logger("t").warning("structlog.line")
    logging.getLogger("t").warning("stdlib line")
    text = now.getvalue()
    assert "structlog.line" in text and "stdlib line" in text
