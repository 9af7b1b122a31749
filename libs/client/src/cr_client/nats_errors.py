"""What each NATS client error means for the caller, decided once (cf. httpx's
``map_httpcore_exceptions``).

Every exception class of ``nats.errors`` and ``nats.js.errors`` has a `Kind` here; a test
fails when a nats-py upgrade adds one that is not classified. Call sites catch `TRANSIENT`
(or use `translated`) instead of listing classes of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Final

from nats import errors as nerr
from nats.js import errors as jerr

from contracts.errors import BusUnavailableError, TransientError


class Kind(StrEnum):
    """What an error says about the call that raised it."""

    TRANSIENT = "transient"
    """Not now: a timeout, a connection closed, reconnecting or draining, no responder,
    JetStream unavailable. The same call may well succeed a moment later."""
    ABSENT = "absent"
    """The stream, consumer, bucket, key or object is not there."""
    CONFLICT = "conflict"
    """Someone else changed it first (optimistic concurrency)."""
    REFUSED = "refused"
    """The request itself is wrong (bad subject, header, key, size, protocol use): retrying
    the same call cannot help."""
    FATAL = "fatal"
    """The connection's configuration is wrong (credentials, TLS, server pool)."""


_T, _A, _C, _R, _F = Kind.TRANSIENT, Kind.ABSENT, Kind.CONFLICT, Kind.REFUSED, Kind.FATAL

KIND: Final[Mapping[type[BaseException], Kind]] = {
    # nats.errors
    nerr.Error: _R,
    nerr.TimeoutError: _T,
    nerr.FlushTimeoutError: _T,
    nerr.DrainTimeoutError: _T,
    nerr.NoRespondersError: _T,
    nerr.StaleConnectionError: _T,
    nerr.UnexpectedEOF: _T,
    nerr.OutboundBufferLimitError: _T,
    nerr.ConnectionClosedError: _T,
    nerr.ConnectionDrainingError: _T,
    nerr.ConnectionReconnectingError: _T,
    nerr.NoServersError: _T,
    nerr.SlowConsumerError: _T,
    nerr.SecureConnRequiredError: _F,
    nerr.SecureConnWantedError: _F,
    nerr.SecureConnFailedError: _F,
    nerr.AuthorizationError: _F,
    nerr.InvalidUserCredentialsError: _F,
    nerr.ServerNotInPoolError: _F,
    nerr.BadSubscriptionError: _R,
    nerr.BadSubjectError: _R,
    nerr.BadHeaderError: _R,
    nerr.BadTimeoutError: _R,
    nerr.JsonParseError: _R,
    nerr.MaxPayloadError: _R,
    nerr.InvalidCallbackTypeError: _R,
    nerr.ProtocolError: _R,
    nerr.NotJSMessageError: _R,
    nerr.MsgAlreadyAckdError: _R,
    # nats.js.errors
    jerr.Error: _R,
    jerr.APIError: _R,
    jerr.ServiceUnavailableError: _T,
    jerr.ServerError: _T,
    jerr.NoStreamResponseError: _T,
    jerr.FetchTimeoutError: _T,
    jerr.TooManyStalledMsgsError: _T,
    jerr.ConsumerSequenceMismatchError: _T,
    jerr.NotFoundError: _A,
    jerr.BucketNotFoundError: _A,
    jerr.KeyNotFoundError: _A,
    jerr.KeyDeletedError: _A,
    jerr.NoKeysError: _A,
    jerr.ObjectNotFoundError: _A,
    jerr.ObjectDeletedError: _A,
    jerr.KeyWrongLastSequenceError: _C,
    jerr.ObjectAlreadyExists: _C,
    jerr.BadRequestError: _R,
    jerr.ConsumerInvalidResetError: _R,
    jerr.BadBucketError: _R,
    jerr.KeyValueError: _R,
    jerr.KeyHistoryTooLargeError: _R,
    jerr.InvalidKeyError: _R,
    jerr.InvalidBucketNameError: _R,
    jerr.InvalidObjectNameError: _R,
    jerr.BadObjectMetaError: _R,
    jerr.LinkIsABucketError: _R,
    jerr.DigestMismatchError: _R,
    jerr.KeyValueLimitMarkerTTLNotSupportedError: _R,
}
"""Every nats-py error class, classified explicitly (not through its base class)."""

TRANSIENT: Final[tuple[type[BaseException], ...]] = (
    *(kind for kind, meaning in KIND.items() if meaning is Kind.TRANSIENT),
    asyncio.TimeoutError,  # the builtin TimeoutError: asyncio.wait_for around a call
)
"""Catch these for "try again later"."""


def kind_of(exc: BaseException) -> Kind | None:
    """The `Kind` of `exc` (by its closest classified class), None when it is not a NATS
    error (a builtin timeout counts as transient)."""
    if isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, nerr.Error):
        return Kind.TRANSIENT
    for cls in type(exc).__mro__:
        if cls in KIND:
            return KIND[cls]
    return None


@contextmanager
def translated(
    what: str, error: type[TransientError] = BusUnavailableError, retry_after_s: float = 1.0
) -> Iterator[None]:
    """Turn a transient NATS error raised inside into `error` ("<what>: <exc>"), chained;
    everything else passes through unchanged."""
    try:
        yield
    except TRANSIENT as exc:
        raise error(f"{what}: {exc!r}", retry_after_s=retry_after_s) from exc
