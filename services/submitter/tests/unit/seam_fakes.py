"""Fakes of the submitter's seams (not of its code): an in-memory KV bucket, a JetStream
that answers `get_last_msg` from what was published, a recording bus, and a scripted
ComfyUI behind `httpx.MockTransport`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError, NotFoundError
from nats.js.kv import KV_DEL, KeyValue

from contracts import BusSettings, JobView, codec, subjects
from contracts.backends import BackendRef
from contracts.codec import AnyEvent
from contracts.readmodel import encode_view
from submitter.adapters.comfy import ComfyClient


class MemKV:
    """One KV bucket in a dict: create/get/update/delete/keys/watchall, JetStream's errors."""

    def __init__(self) -> None:
        self.entries: dict[str, KeyValue.Entry] = {}
        self.revision = 0
        self.fail_with: BaseException | None = None
        self.watch_items: list[Any] = []

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _store(self, key: str, value: bytes, op: str | None = None) -> int:
        self.revision += 1
        self.entries[key] = KeyValue.Entry("b", key, value, self.revision, 0, 0, op)
        return self.revision

    def live(self, key: str) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry.operation != KV_DEL

    async def put(self, key: str, value: bytes) -> int:
        self._check()
        return self._store(key, value)

    async def create(self, key: str, value: bytes) -> int:
        self._check()
        if self.live(key):
            raise KeyWrongLastSequenceError(description="key exists")
        return self._store(key, value)

    async def get(self, key: str) -> KeyValue.Entry:
        self._check()
        if not self.live(key):
            raise KeyNotFoundError
        return self.entries[key]

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        self._check()
        current = self.entries.get(key)
        if current is None or current.revision != last:
            raise KeyWrongLastSequenceError(description="wrong last sequence")
        return self._store(key, value)

    async def delete(self, key: str) -> None:
        self._check()
        self._store(key, b"", KV_DEL)

    async def purge(self, key: str) -> None:
        self._check()
        self.entries.pop(key, None)

    async def keys(self) -> list[str]:
        self._check()
        live = [k for k in self.entries if self.live(k)]
        if not live:
            raise NoKeysError
        return live

    async def watchall(self, **_: Any) -> Watch:
        self._check()
        return Watch(self.watch_items)


class Watch:
    """A watch yielding scripted items; an exception item is raised where it stands."""

    def __init__(self, items: list[Any]) -> None:
        self.items = list(items)
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        for item in self.items:
            if isinstance(item, BaseException):
                raise item
            yield item
        await asyncio.Event().wait()  # a live watch never ends on its own


@dataclass
class Msg:
    data: bytes
    seq: int = 0


class MemJS:
    """JetStream's `get_last_msg` over the events a bus published (or that were seeded)."""

    def __init__(self) -> None:
        self.by_subject: dict[str, bytes] = {}
        self.seqs: dict[str, int] = {}
        self.fail_with: BaseException | None = None

    async def get_last_msg(self, stream: str, subject: str) -> Msg:
        if self.fail_with is not None:
            raise self.fail_with
        if subject not in self.by_subject:
            raise NotFoundError
        return Msg(self.by_subject[subject], self.seqs.get(subject, 0))


class FakeBus:
    """The `Bus` seam: publish records (and stores for `get_last_msg`), `kv` by name."""

    def __init__(self, max_deliver: int = 20) -> None:
        self.settings = BusSettings(max_deliver=max_deliver)
        self.js = MemJS()
        self.buckets: dict[str, MemKV] = {}
        self.events: list[AnyEvent] = []

    async def kv(self, name: str) -> MemKV:
        return self.buckets.setdefault(name, MemKV())

    async def publish(self, event: AnyEvent, **_: Any) -> None:
        self.events.append(event)
        self.seed(event)

    def seed(self, event: AnyEvent) -> None:
        """Put `event` in the stream without recording it as published."""
        subject = codec.subject_for(event)
        self.js.by_subject[subject] = codec.encode(event)
        self.js.seqs[subject] = 1 + max(self.js.seqs.values(), default=0)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass
class Comfy:
    """A scripted ComfyUI: `prompt` answers POST /prompt; every request is recorded."""

    prompt: Callable[[dict[str, Any]], httpx.Response] = field(
        default=lambda body: httpx.Response(200, json={"prompt_id": body["prompt_id"], "number": 3})
    )
    history: dict[str, Any] = field(default_factory=dict)
    queue: dict[str, Any] = field(
        default_factory=lambda: {"queue_running": [], "queue_pending": []}
    )
    down: bool = False
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = (
            json.loads(request.content)
            if request.method == "POST" and path != "/upload/image"
            else None
        )
        self.requests.append((request.method, path, body))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if path == "/prompt":
            return self.prompt(body)
        if path.startswith("/history/"):
            wanted = path.rsplit("/", 1)[1]
            return httpx.Response(200, json={k: v for k, v in self.history.items() if k == wanted})
        if path == "/queue" and request.method == "GET":
            return httpx.Response(200, json=self.queue)
        return httpx.Response(200, json={})

    def client(self, backend_id: str = "b0") -> ComfyClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.answer))
        return ComfyClient(BackendRef(backend_id, f"http://{backend_id}:8188"), http)

    def posted(self, path: str) -> list[Any]:
        return [body for method, p, body in self.requests if method == "POST" and p == path]


class ApiBus(FakeBus):
    """The bus seam plus the core connection the API looks at (payload limit, health, RPC)."""

    def __init__(self) -> None:
        super().__init__()
        self.stats_reply: bytes | None = None

        async def request(subject: str, data: bytes, timeout: float) -> Any:
            if self.stats_reply is None:
                raise NatsTimeoutError
            return SimpleNamespace(data=self.stats_reply)

        self.nc = SimpleNamespace(max_payload=8 * 1024 * 1024, is_connected=True, request=request)


async def store_view(bus: ApiBus, view: JobView) -> None:
    kv = await bus.kv(subjects.KV_JOBS)
    await kv.put(view.job_id, encode_view(view))
