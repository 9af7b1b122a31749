"""Submitter errors, by what the caller should do.

SubmitterError
├── ComfyUnreachableError   our HTTP call to ComfyUI failed at the transport level
├── ComfyReplyError         ComfyUI answered, but not with what the call needs
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


class ComfyReplyError(SubmitterError):
    """ComfyUI answered with an unexpected status or a body that is not the JSON expected.

    Raised by `adapters.comfy` only (not for POST /prompt, whose every reply is evidence).
    """

    def __init__(self, backend_id: str, what: str, status: int, body: str) -> None:
        super().__init__(f"{backend_id}: {what}: HTTP {status}")
        self.backend_id = backend_id
        self.what = what
        self.status = status
        self.body = body


class NoBackendError(SubmitterError):
    """No backend passes the filters (reachable, breaker closed, not excluded)."""
