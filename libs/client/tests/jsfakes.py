"""In-memory stand-ins for the NATS seams `cr_client` uses (a JetStream context, a KV bucket,
a connection), so the real `Bus`, `JobReader` and `JobClient` run without a server."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from nats.js.api import PubAck
from nats.js.errors import KeyNotFoundError, NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from contracts import subjects


@dataclass
class FakeKV:
    """A KV bucket: get only (what the reader needs)."""

    bucket: str
    values: dict[str, bytes | None] = field(default_factory=dict)

    async def keys(self) -> list[str]:
        if not self.values:
            raise NoKeysError
        return list(self.values)

    async def get(self, key: str) -> KeyValue.Entry:
        if key not in self.values:
            raise KeyNotFoundError
        return KeyValue.Entry(self.bucket, key, self.values[key], 1, 0, 0, None)


@dataclass
class FakeJS:
    """A JetStream context over one ordered list of stored messages.

    `failures` are raised, first to last, by the next publishes.
    """

    stored: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    buckets: dict[str, FakeKV] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    get_failures: list[BaseException] = field(default_factory=list)
    waits: list[float | None] = field(default_factory=list)
    dead: dict[int, SimpleNamespace] = field(default_factory=dict)
    """The dead-letter stream, by sequence (read without a subject)."""
    telemetry: list[bytes] = field(default_factory=list)
    """The telemetry stream (read through an ephemeral pull consumer)."""
    consumers_left: list[str] = field(default_factory=list)

    async def publish(
        self, subject: str, data: bytes, timeout: float | None = None, headers: Any = None
    ) -> PubAck:
        self.waits.append(timeout)
        if self.failures:
            raise self.failures.pop(0)
        self.stored.append((subject, data, dict(headers or {})))
        return PubAck(stream="EVENTS", seq=len(self.stored))

    async def get_msg(
        self, stream: str, seq: int, subject: str = "", next: bool = False, direct: bool = False
    ) -> SimpleNamespace:
        if not subject:
            if seq not in self.dead:
                raise NotFoundError
            return self.dead[seq]
        if self.get_failures:
            raise self.get_failures.pop(0)
        for number, (stored, data, _) in enumerate(self.stored, start=1):
            if number >= seq and _matches(subject, stored):
                return SimpleNamespace(seq=number, data=data, subject=stored)
        raise NotFoundError

    async def get_last_msg(self, stream: str, subject: str) -> SimpleNamespace:
        for number, (stored, data, _) in reversed(list(enumerate(self.stored, start=1))):
            if stored == subject:
                return SimpleNamespace(seq=number, data=data, subject=stored)
        raise NotFoundError

    async def key_value(self, bucket: str) -> FakeKV:
        return self.buckets.setdefault(bucket, FakeKV(bucket))

    async def stream_info(self, stream: str) -> Any:
        if stream == subjects.TELEMETRY_STREAM:
            return SimpleNamespace(state=SimpleNamespace(messages=len(self.telemetry)))
        if not self.dead:
            raise NotFoundError
        return SimpleNamespace(
            state=SimpleNamespace(first_seq=min(self.dead), last_seq=max(self.dead))
        )

    async def pull_subscribe(self, subject: str, stream: str, config: Any) -> Any:
        """An ephemeral consumer over the telemetry stream, all in one fetch."""
        self.consumers_left.append("ephemeral")
        left = len(self.telemetry)
        batch = [
            SimpleNamespace(data=data, metadata=SimpleNamespace(num_pending=left - i))
            for i, data in enumerate(self.telemetry, start=1)
        ]

        async def fetch(n: int, timeout: float) -> list[Any]:
            if not batch:
                raise TimeoutError
            return [batch.pop(0) for _ in range(min(n, len(batch)))]

        async def consumer_info() -> Any:
            return SimpleNamespace(name="ephemeral")

        async def unsubscribe() -> None:
            return None

        return SimpleNamespace(fetch=fetch, consumer_info=consumer_info, unsubscribe=unsubscribe)

    async def delete_consumer(self, stream: str, name: str) -> None:
        self.consumers_left.remove(name)

    async def add_stream(self, config: Any) -> None:
        """`ensure_streams` creates the streams (nothing to keep here)."""

    async def consumer_info(self, stream: str, durable: str) -> Any:
        raise NotFoundError  # every durable is (re)created by `ensure_streams`

    async def add_consumer(self, stream: str, config: Any) -> None:
        """An updated durable (nothing to keep here)."""


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


@dataclass
class FakeNC:
    """A connection: its JetStream context, max_payload, and how it was closed."""

    js: FakeJS = field(default_factory=FakeJS)
    max_payload: int = 1_048_576
    is_closed: bool = False
    drain_error: BaseException | None = None
    calls: list[str] = field(default_factory=list)

    def jetstream(self, timeout: float = 5.0) -> FakeJS:
        return self.js

    async def drain(self) -> None:
        self.calls.append("drain")
        if self.drain_error is not None:
            raise self.drain_error
        self.is_closed = True

    async def close(self) -> None:
        self.calls.append("close")
        self.is_closed = True
