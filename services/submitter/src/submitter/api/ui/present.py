"""What the console shows of a job: its timeline in words, its decisions with their
parameter diffs, and its parameters original → current (pure functions of the events and
the read model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.codec import EVENT_TYPES, AnyEvent, type_tag
from contracts.describe import describe
from contracts.job import JobProgressed
from contracts.readmodel import JobView
from contracts.recovery import Abort, Dispatch, RecoveryDecided


@dataclass
class Row:
    """One line of a timeline."""

    at: datetime
    kind: str
    text: str


@dataclass
class Decision:
    """One recovery decision: what was decided, why, and what it changed."""

    at: datetime
    attempt: int
    failure_class: str
    strategy: str
    reason: str
    terminal: bool
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    waits_until: datetime | None = None
    user_message: str = ""
    steps: list[str] = field(default_factory=list)


def timeline(events: list[AnyEvent]) -> tuple[list[Row], int]:
    """The rows of every event but progress reports, and how many progress reports."""
    rows = [
        Row(e.occurred_at, type_tag(type(e)), describe(e))
        for e in events
        if not isinstance(e, JobProgressed)
    ]
    return rows, sum(1 for e in events if isinstance(e, JobProgressed))


def decisions(events: list[AnyEvent]) -> list[Decision]:
    """Every recovery decision of the job, oldest first."""
    found = []
    for event in events:
        if not isinstance(event, RecoveryDecided):
            continue
        chain = "+".join(str(s) for s in event.strategies) or str(event.strategy)
        decision = Decision(
            at=event.occurred_at,
            attempt=event.attempt,
            failure_class=str(event.failure_class or ""),
            strategy=chain,
            reason=event.reason,
            terminal=event.terminal,
            changes=[(c.param or f"{c.node}.{c.input}", c.before, c.after) for c in event.changes],
        )
        for action in event.actions:
            if isinstance(action, Dispatch) and action.wait_until:
                decision.waits_until = action.wait_until
            if isinstance(action, Abort):
                decision.user_message = action.user_message
                decision.steps = list(action.actionable_steps)
        found.append(decision)
    return found


def param_rows(view: JobView) -> list[tuple[str, Any, Any, bool]]:
    """Every parameter: name, original value, current value, and whether it changed."""
    names = sorted(set(view.original_params) | set(view.current_params))
    missing = "—"
    rows = []
    for name in names:
        before = view.original_params.get(name, missing)
        after = view.current_params.get(name, missing)
        rows.append((name, before, after, before != after))
    return rows


def output_files(view: JobView) -> list[tuple[str, str]]:
    """(node, file name) of every output the job reported."""
    files = []
    for node, items in sorted(view.outputs.items()):
        for item in items if isinstance(items, list) else [items]:
            name = item.get("filename", str(item)) if isinstance(item, dict) else str(item)
            files.append((node, str(name)))
    return files


def live_types() -> list[str]:
    """Every event type name an SSE stream may carry (the browser listens for each)."""
    return sorted(type_tag(t) for t in EVENT_TYPES)
