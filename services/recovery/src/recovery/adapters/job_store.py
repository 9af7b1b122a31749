"""The job read model in KV (`subjects.KV_JOBS`, key = job id): written only when changed."""

from __future__ import annotations

import structlog
from nats.js.errors import InvalidKeyError
from nats.js.kv import KeyValue

from contracts import subjects
from contracts.readmodel import JobView, encode_view
from cr_client.bus import Bus
from recovery.adapters.nats_errors import UNAVAILABLE, unavailable

log = structlog.get_logger(__name__)


class JobStore:
    """Puts each job's view, skipping a write when the bytes equal the last ones written."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._written: dict[str, bytes] = {}

    @classmethod
    async def open(cls, bus: Bus) -> JobStore:
        """The store on the bus's jobs bucket."""
        return cls(await bus.kv(subjects.KV_JOBS))

    async def save(self, view: JobView) -> bool:
        """Write `view` unless it is what this instance last wrote; True when written.

        Raises:
            StoreUnavailableError: NATS did not take the write.
        """
        data = encode_view(view)
        if self._written.get(view.job_id) == data:
            return False
        try:
            await self._kv.put(view.job_id, data)
        except InvalidKeyError:
            log.warning("jobs.invalid_key", job_id=view.job_id)
            return False
        except UNAVAILABLE as exc:
            raise unavailable(f"write job {view.job_id}", exc) from exc
        self._written[view.job_id] = data
        return True
