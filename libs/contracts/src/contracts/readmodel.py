"""The job read model kept in KV by recovery and read by clients, the CLI and the API."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

import msgspec

from contracts.recovery import ParamChange


class JobStatus(enum.StrEnum):
    """Where a job stands (DESIGN.md § state machine)."""

    SUBMITTED = "SUBMITTED"
    DISPATCHED = "DISPATCHED"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    RECOVERING = "RECOVERING"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"
    CANCELLED = "CANCELLED"


TERMINAL: Final = frozenset({JobStatus.COMPLETED, JobStatus.ABORTED, JobStatus.CANCELLED})


class RecoveryStep(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a job's recovery history."""

    attempt: int
    failure_class: str | None
    strategy: str
    changes: list[ParamChange] = msgspec.field(default_factory=list)
    reason: str = ""
    backend_id: str | None = None
    at: datetime
    success: bool | None = None


class JobView(msgspec.Struct, kw_only=True):
    """A job as clients see it."""

    job_id: str
    status: JobStatus
    attempt: int = 0
    retry_count: int = 0
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    original_params: dict[str, Any] = msgspec.field(default_factory=dict)
    current_params: dict[str, Any] = msgspec.field(default_factory=dict)
    recovery_history: list[RecoveryStep] = msgspec.field(default_factory=list)
    backends_tried: list[str] = msgspec.field(default_factory=list)
    last_failure_class: str | None = None
    abort_reason: str | None = None
    user_message: str | None = None
    actionable_steps: list[str] = msgspec.field(default_factory=list)
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    progress: float = 0.0
    waiting_reason: str | None = None
    """Set while the job waits for a usable backend (why, and until when); None otherwise."""


_VIEW_ENCODER: Final = msgspec.json.Encoder()
_VIEW_DECODER: Final = msgspec.json.Decoder(JobView)


def encode_view(view: JobView) -> bytes:
    """JSON bytes of a view."""
    return _VIEW_ENCODER.encode(view)


def decode_view(data: bytes) -> JobView:
    """A view from JSON bytes."""
    return _VIEW_DECODER.decode(data)
