"""The wire codec: JSON via msgspec, one decoder for the union of every event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from contracts import subjects
from contracts.backend import BackendHealth, BackendInventory, BreakerChanged
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.envelope import SCHEMA_VERSION
from contracts.errors import UndecodableEventError
from contracts.failure import FailureClassified
from contracts.gpu import GpuSampled
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

AnyEvent = (
    JobSubmitted
    | JobDispatched
    | JobProgressed
    | JobCompleted
    | JobFailed
    | JobCancelRequested
    | JobRetryRequested
    | InterruptSent
    | FailureClassified
    | RecoveryDecided
    | EmergencyStopRequested
    | DispatchResumed
    | BackendHealth
    | BackendInventory
    | BreakerChanged
    | GpuSampled
)
EVENT_TYPES: Final[tuple[type[Any], ...]] = AnyEvent.__args__

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(AnyEvent)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: Final[dict[tuple[str, int], Upcaster]] = {}
"""(type, from_version) → function turning that raw mapping into version+1."""

_PER_JOB: Final[dict[type[Any], str]] = {
    JobSubmitted: subjects.JOB_SUBMITTED,
    JobDispatched: subjects.JOB_DISPATCHED,
    JobProgressed: subjects.JOB_PROGRESS,
    JobCompleted: subjects.JOB_COMPLETED,
    JobFailed: subjects.JOB_FAILED,
    JobCancelRequested: subjects.JOB_CANCEL_REQUESTED,
    JobRetryRequested: subjects.JOB_RETRY_REQUESTED,
    InterruptSent: subjects.JOB_INTERRUPT_SENT,
    FailureClassified: subjects.FAILURE_CLASSIFIED,
    RecoveryDecided: subjects.RECOVERY_DECIDED,
}
_PER_BACKEND: Final[dict[type[Any], str]] = {
    BackendHealth: subjects.BACKEND_HEALTH,
    BackendInventory: subjects.BACKEND_INVENTORY,
    BreakerChanged: subjects.BACKEND_BREAKER,
    GpuSampled: subjects.GPU_SAMPLE,
}
_FIXED: Final[dict[type[Any], str]] = {
    EmergencyStopRequested: subjects.CONTROL_EMERGENCY_STOP,
    DispatchResumed: subjects.CONTROL_RESUMED,
}


def encode(event: AnyEvent) -> bytes:
    """The JSON bytes of `event`."""
    return _ENCODER.encode(event)


def decode(data: bytes) -> AnyEvent:
    """Decode any event, upcasting older schema versions first.

    Raises:
        UndecodableEventError: the bytes are not JSON, or not a known event shape.
    """
    try:
        event: AnyEvent = _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return _decode_old_or_raise(data, exc)
    if event.schema_version != SCHEMA_VERSION:
        return _decode_old_or_raise(data, None)
    return event


def _decode_old_or_raise(data: bytes, cause: Exception | None) -> AnyEvent:
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise UndecodableEventError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UndecodableEventError("not a JSON object") from cause
    raw = upcast(raw)
    try:
        converted: AnyEvent = msgspec.convert(raw, AnyEvent)
        return converted
    except msgspec.ValidationError as exc:
        raise UndecodableEventError(f"invalid event: {exc}") from exc


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a raw event mapping to the current schema version, step by step."""
    version = raw.get("schema_version", 1)
    while isinstance(version, int) and version < SCHEMA_VERSION:
        step = UPCASTERS.get((str(raw.get("type")), version))
        if step is None:
            raise UndecodableEventError(f"no upcaster for {raw.get('type')} v{version}")
        raw = step(raw)
        version = raw["schema_version"] = version + 1
    return raw


def subject_for(event: AnyEvent) -> str:
    """The subject `event` is published on (per job, per backend, or fixed)."""
    kind = type(event)
    if kind in _PER_JOB:
        return subjects.per_job(_PER_JOB[kind], event.job_id)
    if kind in _PER_BACKEND:
        backend_id = getattr(event, "backend_id", None) or "_"
        return subjects.per_backend(_PER_BACKEND[kind], str(backend_id))
    return _FIXED[kind]


def type_tag(kind: type[Any]) -> str:
    """The wire `type` of an event class."""
    return str(kind.__struct_config__.tag)
