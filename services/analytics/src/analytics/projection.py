"""Event → row of the ``events`` table: a pure mapping, one row per event, keyed by event_id."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import msgspec

from contracts.backend import BackendHealth, BackendInventory, BreakerChanged
from contracts.codec import AnyEvent, encode, type_tag
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.failure import FailureClassified
from contracts.gpu import GpuSampled
from contracts.job import (
    InterruptSent,
    JobCancelRequested,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobProgressed,
    JobSubmitted,
)
from contracts.recovery import Abort, Dispatch, RecoveryDecided

MESSAGE_MAX: Final = 2000
"""Longest message kept in its own column (the payload keeps the whole event)."""
MODEL_KEYS: Final = (
    "model",
    "model_name",
    "missing_model",
    "ckpt_name",
    "checkpoint",
    "unet_name",
    "models",
)
"""Keys, in order of preference, under which params and features name the job's model."""


class EventRow(NamedTuple):
    """One row of ``events`` (migrations/0001); field order is the insert's column order."""

    event_id: str
    type: str
    stream: str
    stream_seq: int
    job_id: str
    attempt: int
    occurred_at: datetime
    source: str
    causation_id: str
    ref_event_id: str = ""
    backend_id: str = ""
    model: str = ""
    failure_class: str = ""
    error_code: str = ""
    retryable: bool | None = None
    message: str = ""
    strategy: str = ""
    strategies: tuple[str, ...] = ()
    outcome: str = ""
    terminal: bool = False
    next_attempt: int = 0
    duration_s: float = 0.0
    payload: str = ""


COLUMNS: Final = EventRow._fields


def to_row(event: AnyEvent, stream: str, stream_seq: int) -> EventRow:
    """The ``events`` row of `event`, as read from `stream` at `stream_seq`."""
    return EventRow(
        event_id=event.event_id,
        type=type_tag(type(event)),
        stream=stream,
        stream_seq=stream_seq,
        job_id=event.job_id,
        attempt=_u32(event.attempt),
        occurred_at=_utc(event.occurred_at),
        source=event.source,
        causation_id=event.causation_id or "",
        payload=_payload(event),
        **typed_fields(event),
    )


def dedup_token(rows: Iterable[EventRow]) -> str:
    """A token naming exactly this set of events (ClickHouse drops a repeated insert of it)."""
    digest = hashlib.sha256()
    for event_id in sorted(row.event_id for row in rows):
        digest.update(event_id.encode())
        digest.update(b"\x1f")
    return digest.hexdigest()


def typed_fields(event: AnyEvent) -> dict[str, Any]:
    """The columns beyond the envelope that views read, by event type."""
    match event:
        case JobSubmitted():
            return {"model": model_of(event.params)}
        case JobDispatched():
            return {"backend_id": event.backend_id, "model": model_of(event.params)}
        case JobProgressed():
            return {"backend_id": event.backend_id}
        case JobCompleted():
            return _completed(event)
        case JobFailed():
            return {"backend_id": event.backend_id or "", "message": _clip(event.evidence.message)}
        case FailureClassified():
            return _classified(event)
        case RecoveryDecided():
            return _decided(event)
        case JobCancelRequested() | EmergencyStopRequested():
            return {"message": _clip(event.reason)}
        case InterruptSent():
            return {"backend_id": event.backend_id, "message": _clip(event.reason)}
        case BreakerChanged():
            reason = _clip(event.reason)
            return {"backend_id": event.backend_id, "outcome": str(event.state), "message": reason}
        case BackendHealth():
            return {"backend_id": event.backend_id, "message": _clip(event.error or "")}
        case BackendInventory() | GpuSampled():
            return {"backend_id": event.backend_id}
        case DispatchResumed():
            return {}
    return {}


def model_of(values: Mapping[str, Any]) -> str:
    """The first model name found under `MODEL_KEYS` (a list gives its first item)."""
    if not values:
        return ""  # most events name no model: skip the seven lookups
    for key in MODEL_KEYS:
        found = values.get(key)
        if isinstance(found, list | tuple) and found:
            found = found[0]
        if isinstance(found, str) and found:
            return found
    return ""


def decision_outcome(actions: Sequence[Any]) -> str:
    """What a decision does to the job: ``cancel``, ``abort``, ``dispatch`` or ``other``."""
    for action in actions:
        if isinstance(action, Abort):
            return "cancel" if action.cancelled else "abort"
    if any(isinstance(action, Dispatch) for action in actions):
        return "dispatch"
    return "other"


def _completed(event: JobCompleted) -> dict[str, Any]:
    return {
        "backend_id": event.backend_id,
        "outcome": "completed",
        "terminal": True,
        "duration_s": max(event.duration_s, 0.0),
    }


def _classified(event: FailureClassified) -> dict[str, Any]:
    return {
        "ref_event_id": event.failed_event_id,
        "backend_id": event.backend_id or "",
        "model": model_of(event.features),
        "failure_class": str(event.failure_class),
        "error_code": event.error_code,
        "retryable": event.retryable,
        "message": _clip(event.evidence.message if event.evidence else ""),
    }


def _decided(event: RecoveryDecided) -> dict[str, Any]:
    dispatch = next((a for a in event.actions if isinstance(a, Dispatch)), None)
    abort = next((a for a in event.actions if isinstance(a, Abort)), None)
    return {
        "ref_event_id": event.answers_event_id,
        "backend_id": (dispatch.backend_hint or "") if dispatch else "",
        "failure_class": str(event.failure_class or ""),
        "strategy": str(event.strategy),
        "strategies": tuple(str(s) for s in event.strategies) or (str(event.strategy),),
        "outcome": decision_outcome(event.actions),
        "terminal": event.terminal,
        "next_attempt": _u32(dispatch.attempt) if dispatch else 0,
        "message": _clip(abort.reason if abort else event.reason),
    }


def _payload(event: AnyEvent) -> str:
    """The event's JSON, without uploaded input bytes (analytics never needs them)."""
    if isinstance(event, JobSubmitted) and event.inputs:
        event = msgspec.structs.replace(
            event, inputs=[msgspec.structs.replace(i, data_b64="") for i in event.inputs]
        )
    return encode(event).decode()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _u32(number: int) -> int:
    """`number` inside UInt32, so that no event can make the insert fail."""
    return min(max(number, 0), 2**32 - 1)


def _clip(text: str) -> str:
    return text[:MESSAGE_MAX]
