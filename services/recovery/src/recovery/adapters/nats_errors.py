"""The NATS client errors that mean "not now", translated into `StoreUnavailableError`."""

from __future__ import annotations

import asyncio
from typing import Final

from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from recovery.errors import StoreUnavailableError

UNAVAILABLE: Final = (
    NatsTimeout,
    asyncio.TimeoutError,
    ConnectionClosedError,
    NoRespondersError,
    NoStreamResponseError,
    ServiceUnavailableError,
)
"""Errors after which the same call may well succeed a moment later."""


def unavailable(what: str, exc: BaseException) -> StoreUnavailableError:
    """Our error for a failed KV call (raise it ``from exc``)."""
    return StoreUnavailableError(f"{what}: {exc!r}", retry_after_s=1.0)
