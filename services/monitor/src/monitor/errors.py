"""Monitor errors.

MonitorError
├── BackendDownError     a ComfyUI backend did not answer, or answered nonsense
└── RestartFailedError   a backend-restart hook did not restart the backend
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of the monitor's errors."""


class BackendDownError(MonitorError):
    """A ComfyUI backend could not be read (transport failure, 5xx, bad JSON)."""


class RestartFailedError(MonitorError):
    """A backend-restart hook ran and did not restart the backend (the reason says why)."""
