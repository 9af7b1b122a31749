"""An event in words, for a person: one line per event (the CLI's timelines and the console's).

Pure: it reads only the events' own fields."""

from __future__ import annotations

import re

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
from contracts.recovery import RecoveryDecided


def describe(event: AnyEvent) -> str:
    """One line saying what an event means (a decision: its strategies and reason)."""
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
            chain = "+".join(str(s) for s in event.strategies) or str(event.strategy)
            return f"decided {chain}: {event.reason}"
        case InterruptSent():
            return f"interrupt sent for prompt {event.prompt_id[:8]} ({event.reason})"
        case JobCancelRequested():
            return with_reason("cancel requested", event.requested_by, event.reason)
        case JobRetryRequested():
            name = "retry requested (forced)" if event.force else "retry requested"
            return with_reason(name, event.requested_by, "")
        case EmergencyStopRequested():
            return with_reason("emergency stop", event.requested_by, event.reason)
        case DispatchResumed():
            return with_reason("dispatch resumed", event.requested_by, "")
    return generic(event)


def event_name(event: object) -> str:
    """A person's name for an event type: ``job.cancel_requested`` → ``cancel requested``."""
    config = getattr(type(event), "__struct_config__", None)
    tag = getattr(config, "tag", None)
    if not isinstance(tag, str):
        return re.sub(r"(?<!^)(?=[A-Z])", " ", type(event).__name__).lower()
    return tag.rpartition(".")[2].replace("_", " ")


def with_reason(name: str, by: str, reason: str) -> str:
    """``name by who: reason``, leaving out what is empty."""
    text = f"{name} by {by}" if by else name
    return f"{text}: {reason}" if reason else text


def generic(event: object) -> str:
    """An event with no sentence of its own yet (e.g. a new waiting state): name and reason."""
    reason = getattr(event, "reason", "") or getattr(event, "message", "")
    return f"{event_name(event)}: {reason}" if reason else event_name(event)
