"""Request-reply between services: asking analytics for statistics (``ANALYTICS_QUERY``).

The wire format only; `cr_client.rpc` sends the request.

Request: JSON ``{"since": ISO-8601 | null, "detailed": bool}``. Reply: the statistics
mapping, or ``{"error": str, "error_code": str}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from contracts.errors import TransientError


class StatsUnavailableError(TransientError):
    """No analytics instance answered in time, or it could not compute the statistics."""

    error_code = "STATS_UNAVAILABLE"


class StatsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a statistics request asks for."""

    since: datetime | None = None
    detailed: bool = False

    def since_utc(self) -> datetime | None:
        """`since` in UTC (a naive time is taken as UTC)."""
        if self.since is None or self.since.tzinfo is not None:
            return self.since
        return self.since.replace(tzinfo=UTC)


_ENCODER: Final = msgspec.json.Encoder()
_REQUEST: Final = msgspec.json.Decoder(StatsRequest)


def encode_request(since: datetime | None, detailed: bool) -> bytes:
    """A request's JSON bytes."""
    return _ENCODER.encode(StatsRequest(since=since, detailed=detailed))


def decode_request(data: bytes) -> StatsRequest:
    """A request from JSON bytes (an empty body asks for all time, not detailed).

    Raises:
        msgspec.DecodeError: not a valid request.
    """
    return _REQUEST.decode(data) if data.strip() else StatsRequest()


def encode_reply(body: dict[str, Any]) -> bytes:
    """A reply's JSON bytes."""
    return _ENCODER.encode(body)
