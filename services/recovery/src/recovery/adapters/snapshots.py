"""Snapshots of the projection in KV (`subjects.KV_SNAPSHOTS`): a start replays only the tail.

Keys: ``recovery.seq`` says that every event up to that stream sequence is reflected in
the saved job states; ``recovery.job.<job id, base64url>`` holds one job's state. A start
loads them and replays the stream after ``seq``. Folding an event twice is a no-op, so a
saved state that already holds later events is harmless, and a crash between the job
writes and the ``seq`` write only means a longer replay. A snapshot of another format,
or of a stream that was recreated since, is ignored (full replay).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Final

import msgspec
import structlog
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from contracts import subjects
from contracts.bus import Bus
from recovery.adapters.nats_errors import UNAVAILABLE, unavailable
from recovery.job_state import JobState

log = structlog.get_logger(__name__)
FORMAT: Final = 1
"""Bumped whenever `JobState` changes shape; older snapshots are then ignored."""
SEQ_KEY: Final = "recovery.seq"
JOB_PREFIX: Final = "recovery.job."
_STATE: Final = msgspec.json.Decoder(JobState)


class Mark(msgspec.Struct, frozen=True):
    """The ``recovery.seq`` value."""

    seq: int
    format: int = FORMAT


def job_key(job_id: str) -> str:
    """A KV-safe key for any job id."""
    return JOB_PREFIX + base64.urlsafe_b64encode(job_id.encode()).decode().rstrip("=")


class SnapshotStore:
    """Reads and writes the snapshot."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> SnapshotStore:
        """The store on the bus's snapshots bucket."""
        return cls(await bus.kv(subjects.KV_SNAPSHOTS))

    async def load(self, last_seq: int) -> tuple[int, list[JobState]]:
        """(seq, job states) of the snapshot; (0, []) when there is none usable.

        `last_seq` is the stream's last sequence now: a snapshot past it belongs to a
        stream that was recreated since.
        """
        try:
            entry = await self._kv.get(SEQ_KEY)
            mark = msgspec.json.decode(entry.value or b"", type=Mark)
        except (KeyNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            return 0, []
        if mark.format != FORMAT or mark.seq > last_seq:
            log.info("snapshot.ignored", seq=mark.seq, format=mark.format, last_seq=last_seq)
            return 0, []
        try:
            return mark.seq, await self._states()
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("snapshot.undecodable", error=str(exc))
            return 0, []

    async def _states(self) -> list[JobState]:
        watcher = await self._kv.watch(JOB_PREFIX + ">")
        states = []
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.operation not in (KV_DEL, KV_PURGE) and entry.value:
                    states.append(_STATE.decode(entry.value))
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return states

    async def save(self, states: Iterable[JobState], seq: int) -> None:
        """Write `states`, then mark the snapshot as covering the stream up to `seq`.

        Raises:
            StoreUnavailableError: NATS did not take a write.
        """
        try:
            for state in states:
                await self._kv.put(job_key(state.job_id), msgspec.json.encode(state))
            await self._kv.put(SEQ_KEY, msgspec.json.encode(Mark(seq)))
        except UNAVAILABLE as exc:
            raise unavailable("write snapshot", exc) from exc
