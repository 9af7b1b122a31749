"""Asking analytics for statistics over request-reply (``ANALYTICS_QUERY``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import msgspec

from contracts import subjects
from contracts.rpc import StatsUnavailableError, encode_request
from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT

_REPLY: Final = msgspec.json.Decoder(dict[str, Any])


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
    except TRANSIENT as exc:
        raise StatsUnavailableError(f"no analytics instance answered: {exc!r}") from exc
    answer = _REPLY.decode(reply.data)
    if "error" in answer:
        raise StatsUnavailableError(str(answer["error"]))
    return answer
