"""Which operator actions apply to a job in which status (pure; the client, the API and
recovery's operator decisions agree on these)."""

from __future__ import annotations

from typing import Final

from contracts.readmodel import TERMINAL, JobStatus

RETRYABLE: Final = frozenset({JobStatus.ABORTED, JobStatus.FAILED})
"""Statuses a manual retry restarts."""
FORCE_RETRYABLE: Final = frozenset({JobStatus.CANCELLED, JobStatus.COMPLETED})
"""Statuses a manual retry restarts only with ``force``."""


def retry_refusal(status: JobStatus, force: bool) -> str | None:
    """Why a retry of a job in `status` cannot apply (None: it can)."""
    if status in RETRYABLE or (force and status in FORCE_RETRYABLE):
        return None
    if status in FORCE_RETRYABLE:
        return "it has ended; retry with force to run it again"
    return "it has not ended yet (cancel it first, or wait for it to end)"


def cancel_refusal(status: JobStatus) -> str | None:
    """Why a cancel of a job in `status` cannot apply (None: it can)."""
    if status in TERMINAL:
        return "it has already ended"
    return None
