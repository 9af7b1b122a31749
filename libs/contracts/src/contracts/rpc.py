"""Request-reply between services: asking analytics for statistics (``ANALYTICS_QUERY``).

Request: JSON ``{"since": ISO-8601 | null, "detailed": bool}``. Reply: the statistics
mapping, or ``{"error": str, "error_code": str}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from contracts import subjects
from contracts.bus import Bus
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
_REPLY: Final = msgspec.json.Decoder(dict[str, Any])


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


async def request_stats(
    bus: Bus, since: datetime | None = None, detailed: bool = False, timeout: float = 10.0
) -> dict[str, Any]:
    """Ask whichever analytics instance answers first.

    Raises:
        StatsUnavailableError: nobody answered in time, or the answer is an error.
    """
    try:
        reply = await bus.nc.request(
            subjects.ANALYTICS_QUERY, encode_request(since, detailed), timeout=timeout
        )
    except (NoRespondersError, NatsTimeout, TimeoutError) as exc:
        raise StatsUnavailableError(f"no analytics instance answered: {exc!r}") from exc
    answer = _REPLY.decode(reply.data)
    if "error" in answer:
        raise StatsUnavailableError(str(answer["error"]))
    return answer
