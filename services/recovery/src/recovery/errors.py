"""Errors of the recovery service, classified by what the caller should do.

A job's failure is data (an event), never one of these: they are *our* failures to
process a message. The shared consumer maps them: `TransientError` → nak with delay,
`PermanentError` → dead letter with the reason.

RecoveryError
├── DomainError (PermanentError)     the event cannot be folded into the job's state
│   ├── UnknownJobError                an event for a job whose submission was never seen
│   └── IllegalTransitionError         the event would move the job along no allowed edge
└── StoreUnavailableError (TransientError)  a KV read or write failed; try again later
    └── BreakerContentionError             the breaker CAS lost too many races in a row
"""

from __future__ import annotations

from contracts.errors import PermanentError, TransientError


class RecoveryError(Exception):
    """Root of every error raised by the recovery service."""

    error_code = "RECOVERY_ERROR"


class DomainError(RecoveryError, PermanentError):
    """Raised by the fold (`state_machine.apply`) when an event cannot apply."""

    error_code = "DOMAIN"


class UnknownJobError(DomainError):
    """Raised when an event names a job whose `job.submitted` recovery never saw."""

    error_code = "UNKNOWN_JOB"


class IllegalTransitionError(DomainError):
    """Raised when an event would move a job between statuses with no allowed edge."""

    error_code = "ILLEGAL_TRANSITION"


class StoreUnavailableError(RecoveryError, TransientError):
    """Raised by the KV adapters when NATS did not answer; the message is retried."""

    error_code = "STORE_UNAVAILABLE"


class BreakerContentionError(StoreUnavailableError):
    """Raised when another instance kept updating a breaker while this one tried to."""

    error_code = "BREAKER_CONTENTION"
