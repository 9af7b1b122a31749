"""How the CLI shows jobs to a person: progress, outcomes, timelines, tables."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

from contracts.codec import AnyEvent
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.failure import FailureClassified
from contracts.job import (
    InterruptSent,
    JobCancelRequested,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobProgressed,
    JobRetryRequested,
    JobSubmitted,
)
from contracts.recovery import Abort, Dispatch, RecoveryDecided


def bar(percent: float, width: int = 30) -> str:
    """A text progress bar."""
    filled = int(width * max(0.0, min(percent, 100.0)) / 100)
    return "[" + "#" * filled + "." * (width - filled) + f"] {percent:5.1f}%"


def describe(event: AnyEvent) -> str:
    """One line saying what an event means, with the reason behind decisions."""
    match event:
        case JobSubmitted():
            return f"submitted ({len(event.workflow)} nodes)"
        case JobDispatched():
            parts = f", {len(event.prompts)} parts" if len(event.prompts) > 1 else ""
            return f"attempt {event.attempt} dispatched to {event.backend_id}{parts}"
        case JobProgressed():
            return f"progress node {event.node}: {event.value}/{event.max}"
        case JobCompleted():
            files = sum(len(v) for v in event.outputs.values())
            return f"completed on {event.backend_id}: {files} output file(s)"
        case JobFailed():
            ev = event.evidence
            what = ev.observation or ev.exception_type or ev.validation_type or ev.surface
            return f"attempt {event.attempt} failed: {what}: {ev.message[:120]}"
        case FailureClassified():
            kind = "retryable" if event.retryable else "not retryable"
            return f"classified {event.failure_class} ({kind}, rule {event.rule})"
        case RecoveryDecided():
            return _decision(event)
        case InterruptSent():
            return f"interrupt sent for prompt {event.prompt_id[:8]} ({event.reason})"
        case JobCancelRequested():
            return _with_reason("cancel requested", event.requested_by, event.reason)
        case JobRetryRequested():
            name = "retry requested (forced)" if event.force else "retry requested"
            return _with_reason(name, event.requested_by, "")
        case EmergencyStopRequested():
            return _with_reason("emergency stop", event.requested_by, event.reason)
        case DispatchResumed():
            return _with_reason("dispatch resumed", event.requested_by, "")
    return _generic(event)


def event_name(event: object) -> str:
    """A person's name for an event type: ``job.cancel_requested`` → ``cancel requested``."""
    config = getattr(type(event), "__struct_config__", None)
    tag = getattr(config, "tag", None)
    if not isinstance(tag, str):
        return re.sub(r"(?<!^)(?=[A-Z])", " ", type(event).__name__).lower()
    return tag.rpartition(".")[2].replace("_", " ")


def _with_reason(name: str, by: str, reason: str) -> str:
    text = f"{name} by {by}" if by else name
    return f"{text}: {reason}" if reason else text


def _generic(event: object) -> str:
    """Events this CLI has no sentence for yet (e.g. a new waiting state): name and reason."""
    reason = getattr(event, "reason", "") or getattr(event, "message", "")
    return f"{event_name(event)}: {reason}" if reason else event_name(event)


def _decision(event: RecoveryDecided) -> str:
    chain = "+".join(str(s) for s in event.strategies) or str(event.strategy)
    changes = ", ".join(f"{c.param or c.input}: {c.before}→{c.after}" for c in event.changes)
    text = f"decided {chain}: {event.reason}"
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
