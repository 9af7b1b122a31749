"""Submitter errors, by what the caller should do.

SubmitterError
├── ComfyUnreachableError   our HTTP call to ComfyUI failed at the transport level
└── NoBackendError          no configured backend can take the job right now
"""

from __future__ import annotations


class SubmitterError(Exception):
    """Root of the submitter's errors."""


class ComfyUnreachableError(SubmitterError):
    """Connecting to, or reading from, a ComfyUI backend failed (refused, reset, timeout).

    Raised by `adapters.comfy` only, translated from httpx's transport errors.
    """

    def __init__(self, backend_id: str, exception_type: str, message: str) -> None:
        super().__init__(f"{backend_id}: {exception_type}: {message}")
        self.backend_id = backend_id
        self.exception_type = exception_type
        self.message = message


class NoBackendError(SubmitterError):
    """No backend passes the filters (reachable, breaker closed, not excluded)."""
