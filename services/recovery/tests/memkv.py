"""An in-memory NATS KV bucket and a recording publisher: the seams recovery's adapters and
handlers talk to, faked so the handlers run without a server (our code stays real).

`MemoryKV` does what the adapters call on `nats.js.kv.KeyValue`: put, get, create, update
(compare-and-set on the revision) and watch (current values, a None marker, then every
change), with JetStream's errors for a missing key and a wrong last revision. `fail_with`
makes every call raise, as a NATS outage does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KeyValue

from contracts.codec import AnyEvent, encode
from contracts.errors import EventTooLargeError


def _matches(pattern: str, key: str) -> bool:
    """NATS subject matching of a watch filter (`*` one token, `>` the rest)."""
    want, have = pattern.split("."), key.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


class MemoryWatcher:
    """A watch: the entries there when it started, then None, then each later change."""

    def __init__(self, initial: list[KeyValue.Entry]) -> None:
        self._queue: asyncio.Queue[KeyValue.Entry | None] = asyncio.Queue()
        for entry in initial:
            self._queue.put_nowait(entry)
        self._queue.put_nowait(None)

    def push(self, entry: KeyValue.Entry) -> None:
        self._queue.put_nowait(entry)

    async def stop(self) -> None:
        """Nothing to release."""

    def __aiter__(self) -> AsyncIterator[KeyValue.Entry | None]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[KeyValue.Entry | None]:
        while True:
            yield await self._queue.get()


class MemoryKV:
    """One KV bucket held in a dict, with revisions and watches."""

    def __init__(self, bucket: str = "test") -> None:
        self.bucket = bucket
        self.entries: dict[str, KeyValue.Entry] = {}
        self.revision = 0
        self.fail_with: BaseException | None = None
        self.puts = 0
        self._watchers: list[tuple[str, MemoryWatcher]] = []

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _store(self, key: str, value: bytes, operation: str | None = None) -> int:
        self.revision += 1
        entry = KeyValue.Entry(self.bucket, key, value, self.revision, 0, 0, operation)
        self.entries[key] = entry
        for pattern, watcher in self._watchers:
            if _matches(pattern, key):
                watcher.push(entry)
        return self.revision

    async def put(self, key: str, value: bytes, **_: Any) -> int:
        self._check()
        self.puts += 1
        return self._store(key, value)

    async def get(self, key: str, **_: Any) -> KeyValue.Entry:
        self._check()
        entry = self.entries.get(key)
        if entry is None or entry.operation == KV_DEL:
            raise KeyNotFoundError
        return entry

    async def create(self, key: str, value: bytes, **_: Any) -> int:
        self._check()
        if key in self.entries and self.entries[key].operation != KV_DEL:
            raise KeyWrongLastSequenceError(description="key exists")
        return self._store(key, value)

    async def update(self, key: str, value: bytes, last: int | None = None, **_: Any) -> int:
        self._check()
        current = self.entries.get(key)
        if current is None or current.revision != last:
            raise KeyWrongLastSequenceError(description="wrong last sequence")
        return self._store(key, value)

    async def delete(self, key: str) -> None:
        self._check()
        self._store(key, b"", KV_DEL)

    async def watch(self, keys: str, **_: Any) -> MemoryWatcher:
        self._check()
        current = [e for k, e in sorted(self.entries.items()) if _matches(keys, k)]
        watcher = MemoryWatcher(current)
        self._watchers.append((keys, watcher))
        return watcher


class RecordingBus:
    """The publisher seam (`recovery.breaker_keeper.Publisher`): keeps every event, encoded
    and decoded as on the wire; `limit` refuses larger events as the bus does."""

    def __init__(self, limit: int | None = None) -> None:
        self.events: list[AnyEvent] = []
        self.limit = limit

    async def publish(self, event: AnyEvent, *, timeout: float | None = None) -> None:
        size = len(encode(event))
        if self.limit is not None and size > self.limit:
            raise EventTooLargeError(subject=type(event).__name__, size=size, limit=self.limit)
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        """The published events of one type."""
        return [e for e in self.events if isinstance(e, kind)]
