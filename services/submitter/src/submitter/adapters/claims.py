"""Claims on attempts in KV (``cr_prompts``): of several submitter instances, only the one
holding an attempt's claim posts its prompts; the claim names the backend they go to."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from contracts import subjects
from contracts.errors import BusUnavailableError
from cr_client.bus import Bus
from cr_client.nats_errors import TRANSIENT


class ClaimRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The value stored under an attempt's key."""

    holder: str
    backend_id: str
    job_id: str
    attempt: int
    at: float


@dataclass(frozen=True)
class Claim:
    """A standing claim of another (or an earlier) holder, with its KV revision."""

    record: ClaimRecord
    revision: int


class Claims:
    """Take, take over and release attempt claims. NATS timeouts become BusUnavailableError.

    Args:
        bus: the connection.
        holder: this instance's name (a claim of our own can only be left by a failed try).
        stale_after_s: how long a claim outlives a holder that never finished with it.
    """

    def __init__(self, bus: Bus, holder: str, stale_after_s: float) -> None:
        self.bus = bus
        self.holder = holder
        self.stale_after_s = stale_after_s

    def _encode(self, backend_id: str, job_id: str, attempt: int, now: float) -> bytes:
        record = ClaimRecord(
            holder=self.holder, backend_id=backend_id, job_id=job_id, attempt=attempt, at=now
        )
        return msgspec.json.encode(record)

    async def take(
        self, key: str, backend_id: str, job_id: str, attempt: int, now: float
    ) -> Claim | None:
        """Claim `key` for posting to `backend_id`: None when we hold it now, else the claim
        standing in the way."""
        kv = await self.bus.kv(subjects.KV_PROMPTS)
        try:
            try:
                await kv.create(key, self._encode(backend_id, job_id, attempt, now))
                return None
            except KeyWrongLastSequenceError:
                entry = await kv.get(key)
        except KeyNotFoundError:
            # released between our two calls: the next create will find the key free
            return await self.take(key, backend_id, job_id, attempt, now)
        except TRANSIENT as exc:
            raise BusUnavailableError(f"claiming {key}: {exc!r}") from exc
        record = msgspec.json.decode(entry.value or b"{}", type=ClaimRecord)
        return Claim(record, int(entry.revision or 0))

    def may_take_over(self, claim: Claim, now: float) -> bool:
        """Whether `claim` is our own leftover or so old that its holder is gone."""
        record = claim.record
        return record.holder == self.holder or now - record.at > self.stale_after_s

    async def take_over(self, key: str, claim: Claim, now: float) -> bool:
        """Replace `claim` with ours (same backend) unless someone else changed it first."""
        kv, record = await self.bus.kv(subjects.KV_PROMPTS), claim.record
        try:
            mine = self._encode(record.backend_id, record.job_id, record.attempt, now)
            await kv.update(key, mine, last=claim.revision)
        except KeyWrongLastSequenceError:
            return False
        except TRANSIENT as exc:
            raise BusUnavailableError(f"taking over {key}: {exc!r}") from exc
        return True

    async def release(self, key: str) -> None:
        """Drop the claim once the attempt's outcome is in the stream (which then answers)."""
        kv = await self.bus.kv(subjects.KV_PROMPTS)
        try:
            await kv.delete(key)
        except TRANSIENT as exc:
            raise BusUnavailableError(f"releasing {key}: {exc!r}") from exc
