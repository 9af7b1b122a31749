"""House rules of the source tree that no linter checks."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 300
"""A module longer than this holds more than one idea: split it along a seam."""


def _source_modules() -> list[Path]:
    return sorted(
        path
        for top in ("libs", "services", "tools")
        for path in (ROOT / top).glob("*/src/**/*.py")
        if ".venv" not in path.parts
    )


def test_the_source_modules_are_found() -> None:
    found = {p.relative_to(ROOT).as_posix() for p in _source_modules()}
    assert "libs/runtime/src/cr_runtime/service.py" in found
    assert "tools/comfysim/src/comfysim/__init__.py" in found
    assert len(found) > 100


def test_no_source_module_is_over_300_lines() -> None:
    long = {
        path.relative_to(ROOT).as_posix(): count
        for path in _source_modules()
        if (count := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines (split along a seam): {long}"
