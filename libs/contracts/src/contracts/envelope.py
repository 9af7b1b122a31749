"""The one envelope every event carries (DESIGN.md § Events), and event-id derivation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Final

import msgspec

SCHEMA_VERSION: Final = 1
_NAMESPACE: Final = uuid.UUID("6d1f2c4e-5b0a-4c8e-9f3d-2a7b8c9d0e1f")
CONTROL_JOB_ID: Final = "-"
"""The job id of events that concern no single job (control, telemetry)."""


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event: identity, causality and version.

    Attributes:
        event_id: unique id; also the ``Nats-Msg-Id`` so JetStream drops duplicates.
        job_id: the job this fact is about (``-`` for control and telemetry).
        attempt: which attempt of the job (0 before the first dispatch).
        occurred_at: when the fact happened (UTC).
        source: ``<service>/<instance>`` that published it.
        causation_id: the event that caused this one, if any.
        schema_version: the payload shape version (bumped on breaking changes only).
    """

    event_id: str
    job_id: str
    attempt: int = 0
    occurred_at: datetime
    source: str
    causation_id: str | None = None
    schema_version: int = SCHEMA_VERSION


def new_event_id() -> str:
    """A fresh random event id (for facts with no deterministic cause)."""
    return str(uuid.uuid4())


def derive_event_id(cause: str, role: str) -> str:
    """The id of the event that `cause` leads to in `role`.

    The same cause and role always give the same id, so a redelivered input yields an
    output that JetStream deduplicates, and a restarted service decides nothing twice.

    Args:
        cause: the causing event id (or another stable key, such as a prompt id).
        role: what the new event is, e.g. ``"classified"``.

    Returns:
        A UUID string.
    """
    return str(uuid.uuid5(_NAMESPACE, f"{cause}\x1f{role}"))


def prompt_id_for(job_id: str, attempt: int, part: int = 0) -> str:
    """The ComfyUI prompt id of one (job, attempt, part): a canonical lowercase UUID.

    ComfyUI rejects any other form (``invalid_prompt_id``); a deterministic id lets the
    submitter look for it before posting, so a redelivered decision never runs twice.
    """
    return str(uuid.uuid5(_NAMESPACE, f"prompt\x1f{job_id}\x1f{attempt}\x1f{part}"))


def utcnow() -> datetime:
    """Now, in UTC (the shell's clock; pure code takes time as an argument)."""
    return datetime.now(UTC)
