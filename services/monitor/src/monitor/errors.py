"""Monitor errors.

MonitorError
└── BackendDownError   a ComfyUI backend did not answer, or answered nonsense
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of the monitor's errors."""


class BackendDownError(MonitorError):
    """A ComfyUI backend could not be read (transport failure, 5xx, bad JSON)."""
