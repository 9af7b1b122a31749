"""Remove every stream and bucket, so the next test starts from production's `ensure`."""

from __future__ import annotations

import contextlib

from nats.js.errors import BucketNotFoundError, NotFoundError

from contracts import subjects as subj
from contracts.streams import KV_BUCKETS
from cr_client import Bus


async def purge_everything(bus: Bus) -> None:
    """Delete all streams and KV buckets of ours."""
    for stream in (subj.EVENTS_STREAM, subj.TELEMETRY_STREAM, subj.DEADLETTER_STREAM):
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_stream(stream)
    for bucket, _, _ in KV_BUCKETS:
        with contextlib.suppress(NotFoundError, BucketNotFoundError):
            await bus.js.delete_key_value(bucket)
