"""Errors of the contracts layer, classified by what the caller should do.

ContractsError
├── TransientError        try again later (``retry_after_s``); consumers nak with delay
│   └── BusUnavailableError   NATS could not be reached or did not answer in time
├── PermanentError        stop; retrying cannot help
│   ├── UndecodableEventError the bytes are not a known event (goes to the dead letter)
│   ├── EventTooLargeError    an event over NATS max_payload (cannot ever be published)
│   └── SubmitRefusedError    a submission that cannot run (nothing was published)
├── JobNotFoundError      no event exists for that job id
└── JobNotEligibleError   an operator action that cannot apply to the job as it stands
"""

from __future__ import annotations


class ContractsError(Exception):
    """Root of every error raised by `contracts`."""

    error_code = "CONTRACTS_ERROR"


class TransientError(ContractsError):
    """Try again later; ``retry_after_s`` says when (consumers nak with this delay)."""

    error_code = "TRANSIENT"

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BusUnavailableError(TransientError):
    """NATS could not be reached, or did not acknowledge in time."""

    error_code = "BUS_UNAVAILABLE"


class PermanentError(ContractsError):
    """Stop: processing this message again cannot succeed."""

    error_code = "PERMANENT"


class UndecodableEventError(PermanentError):
    """The bytes are not a valid event of any known type; raised by the codec."""

    error_code = "UNDECODABLE"


class JobNotFoundError(ContractsError):
    """No event exists for the requested job id."""

    error_code = "JOB_NOT_FOUND"


class SubmitRefusedError(PermanentError):
    """A submission that cannot run, refused before anything was published (HTTP 422/413,
    CLI exit 2). `contracts.workflow.InvalidWorkflowError` and `WorkflowTooLargeError` are
    the two kinds."""

    error_code = "SUBMIT_REFUSED"


class JobNotEligibleError(ContractsError):
    """An operator action (cancel, retry) that cannot apply to the job in its status; no
    event was published. ``status`` is the job's status, ``reason`` says why."""

    error_code = "JOB_NOT_ELIGIBLE"

    def __init__(self, job_id: str, status: str, reason: str) -> None:
        super().__init__(f"job {job_id} is {status}: {reason}")
        self.job_id = job_id
        self.status = status
        self.reason = reason


class EventTooLargeError(PermanentError):
    """An event larger than the server's max_payload: publishing it can never succeed."""

    error_code = "EVENT_TOO_LARGE"

    def __init__(self, subject: str, size: int, limit: int) -> None:
        super().__init__(
            f"event on {subject} is {size} bytes, over the NATS max_payload of {limit} bytes"
        )
        self.size = size
        self.limit = limit
