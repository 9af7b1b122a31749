"""How the CLI shows jobs to a person: progress, outcomes, timelines, tables."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from contracts import describe as words
from contracts.codec import AnyEvent
from contracts.job import JobProgressed
from contracts.recovery import Abort, Dispatch, RecoveryDecided


def bar(percent: float, width: int = 30) -> str:
    """A text progress bar."""
    filled = int(width * max(0.0, min(percent, 100.0)) / 100)
    return "[" + "#" * filled + "." * (width - filled) + f"] {percent:5.1f}%"


def describe(event: AnyEvent) -> str:
    """One line saying what an event means; a decision also shows its parameter changes,
    its wait and, when it ends the job, the message and steps (on lines of their own)."""
    if isinstance(event, RecoveryDecided):
        return _decision(event)
    return words.describe(event)


def _decision(event: RecoveryDecided) -> str:
    changes = ", ".join(f"{c.param or c.input}: {c.before}→{c.after}" for c in event.changes)
    text = words.describe(event)
    if changes:
        text += f" [{changes}]"
    for action in event.actions:
        if isinstance(action, Dispatch) and action.wait_until:
            text += f"\n      → waiting for a usable backend (until {action.wait_until:%H:%M:%S})"
        elif isinstance(action, Dispatch) and action.not_before:
            text += f" (not before {action.not_before:%H:%M:%S})"
        if isinstance(action, Abort) and action.user_message:
            text += f"\n      → {action.user_message}"
            text += "".join(f"\n        - {step}" for step in action.actionable_steps)
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def progress_line(event: JobProgressed) -> None:
    """Redraw the progress bar in place on a terminal."""
    if sys.stderr.isatty():
        print(f"\r  {bar(event.percent)} node {event.node}", end="", file=sys.stderr, flush=True)
