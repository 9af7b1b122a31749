"""Snapshots of the projection in KV (`subjects.KV_SNAPSHOTS`): a start replays only the tail.

Keys: ``recovery.seq`` says that every event up to that stream sequence is reflected in
the saved job states; ``recovery.job.<job id, base64url>`` holds one job's state. A start
loads them and replays the stream after ``seq``. Folding an event twice is a no-op, so a
saved state that already holds later events is harmless, and a crash between the job
writes and the ``seq`` write only means a longer replay. A snapshot of another format,
or of a stream that was recreated since, is ignored (full replay).

A job state too large for one KV value (a big graph, held as original and current, plus
the graphs its decisions dispatched) is put in the JetStream object store
(`OBJECTS_BUCKET`, chunked, any size) and its KV key holds a `Pointer`: a snapshot never
outgrows the bus's max_payload.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Final

import msgspec
import structlog
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from nats.js.object_store import ObjectStore

from contracts import subjects
from cr_client.bus import Bus
from recovery.adapters.nats_errors import UNAVAILABLE, unavailable
from recovery.job_state import JobState

log = structlog.get_logger(__name__)
FORMAT: Final = 1
"""Bumped whenever `JobState` changes shape; older snapshots are then ignored."""
SEQ_KEY: Final = "recovery.seq"
JOB_PREFIX: Final = "recovery.job."
_STATE: Final = msgspec.json.Decoder(JobState)
OBJECTS_BUCKET: Final = "cr_snapshot_objects"
"""Object store of job states too large for a KV value."""
HEADROOM: Final = 64 * 1024
"""Bytes of max_payload kept for the KV message's own framing."""
_POINTER_HEAD: Final = b'{"object":'


class Pointer(msgspec.Struct, frozen=True):
    """A KV value standing for a state kept in the object store under `object`."""

    object: str
    size: int


class Mark(msgspec.Struct, frozen=True):
    """The ``recovery.seq`` value."""

    seq: int
    format: int = FORMAT


def job_key(job_id: str) -> str:
    """A KV-safe key for any job id."""
    return JOB_PREFIX + base64.urlsafe_b64encode(job_id.encode()).decode().rstrip("=")


class SnapshotStore:
    """Reads and writes the snapshot."""

    def __init__(
        self, kv: KeyValue, objects: ObjectStore | None = None, inline_max: int = 1 << 20
    ) -> None:
        self._kv = kv
        self._objects = objects
        self.inline_max = inline_max
        """Largest state written straight into KV; larger ones go to `objects`."""

    @classmethod
    async def open(cls, bus: Bus) -> SnapshotStore:
        """The store on the bus's snapshots bucket and the object store beside it."""
        objects = await open_objects(bus.js, bus.settings.replicas)
        inline_max = max(bus.nc.max_payload - HEADROOM, 1024)
        return cls(await bus.kv(subjects.KV_SNAPSHOTS), objects, inline_max)

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
                    states.append(_STATE.decode(await self._inline(entry.value)))
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
                await self._put(job_key(state.job_id), msgspec.json.encode(state))
            await self._kv.put(SEQ_KEY, msgspec.json.encode(Mark(seq)))
        except UNAVAILABLE as exc:
            raise unavailable("write snapshot", exc) from exc

    async def _put(self, key: str, data: bytes) -> None:
        if len(data) <= self.inline_max or self._objects is None:
            await self._kv.put(key, data)
            return
        await self._objects.put(key, data)
        await self._kv.put(key, msgspec.json.encode(Pointer(key, len(data))))
        log.info("snapshot.state_in_object_store", key=key, size=len(data))

    async def _inline(self, value: bytes) -> bytes:
        """The state's bytes, fetched from the object store when `value` points there."""
        if not value.startswith(_POINTER_HEAD) or self._objects is None:
            return value
        pointer = msgspec.json.decode(value, type=Pointer)
        try:
            found = await self._objects.get(pointer.object)
        except NotFoundError as exc:
            raise msgspec.DecodeError(f"snapshot object {pointer.object} is missing") from exc
        return found.data or b""


async def open_objects(js: JetStreamContext, replicas: int) -> ObjectStore:
    """The snapshot object store, created (file storage) if missing."""
    try:
        return await js.object_store(OBJECTS_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_object_store(
            OBJECTS_BUCKET,
            js_api.ObjectStoreConfig(
                description="recovery: job states too large for a KV value",
                storage=js_api.StorageType.FILE,
                replicas=replicas,
            ),
        )
