"""The NATS client errors that mean "not now", translated into `StoreUnavailableError`."""

from __future__ import annotations

from typing import Final

from cr_client.nats_errors import TRANSIENT
from recovery.errors import StoreUnavailableError

UNAVAILABLE: Final = TRANSIENT
"""Errors after which the same call may well succeed a moment later (`cr_client.nats_errors`)."""


def unavailable(what: str, exc: BaseException) -> StoreUnavailableError:
    """Our error for a failed KV call (raise it ``from exc``)."""
    return StoreUnavailableError(f"{what}: {exc!r}", retry_after_s=1.0)
