"""The backend registry, read from KV (health and inventory by the monitor, breakers by
recovery) and kept current by a watch."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
import structlog
from nats.aio.msg import Msg
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

from contracts import codec, subjects
from contracts.backend import BackendHealth, BackendInventory, BreakerChanged
from contracts.backends import BackendRef
from contracts.errors import PermanentError
from contracts.job import JobDispatched
from cr_client.bus import Bus
from submitter.selection import BackendView

log = structlog.get_logger(__name__)


def apply_entry(view: BackendView, kind: str, value: bytes, now: float | None = None) -> None:
    """Update `view` from one KV entry (``health``, ``inventory`` or ``breaker``), seen at
    `now` (epoch seconds; default: the current time)."""
    now = time.time() if now is None else now
    try:
        event: Any = codec.decode(value)
    except PermanentError:
        event = _plain(value)
    match event:
        case BackendHealth():
            view.reachable = event.reachable
            view.saw_queue(event.queue_running + event.queue_pending, now)
            view.vram_free = event.vram_free
            view.version = event.comfyui_version or view.version
            view.device_type = event.device_type or view.device_type
        case BackendInventory():
            view.node_classes = frozenset(event.node_classes)
            view.models = frozenset(m for files in event.models.values() for m in files)
            view.version = event.comfyui_version or view.version
            view.device_type = event.device_type or view.device_type
        case BreakerChanged():
            view.saw_breaker(str(event.state), None, event.reason)
        case {"state": str(state)} if kind == "breaker":
            until = event.get("open_until")
            reason = event.get("reason")
            view.saw_breaker(
                state,
                float(until) if isinstance(until, int | float) else None,
                reason if isinstance(reason, str) else "",
            )


def _plain(value: bytes) -> Any:
    with contextlib.suppress(msgspec.DecodeError):
        return msgspec.json.decode(value)
    return None


class Registry:
    """Backends by id, as the submitter sees them."""

    def __init__(self, refs: list[BackendRef]) -> None:
        self.views = {ref.id: BackendView(ref.id) for ref in refs}
        self._kv: KeyValue | None = None

    async def start(self, bus: Bus) -> None:
        """Load the bucket's current entries (the watch then keeps them current)."""
        self._kv = await bus.kv(subjects.KV_BACKENDS)
        with contextlib.suppress(NoKeysError):
            for key in await self._kv.keys():
                entry = await self._kv.get(key)
                self._apply(key, entry.value)

    def _apply(self, key: str, value: bytes | None) -> None:
        backend_id, _, kind = key.rpartition(".")
        view = self.views.get(backend_id)
        if view is not None and value:
            apply_entry(view, kind, value)

    async def watch(self) -> None:
        """Follow changes to the bucket until cancelled."""
        assert self._kv is not None
        while True:
            watcher = await self._kv.watchall(include_history=False)
            try:
                async for entry in watcher:
                    if entry is not None:
                        self._apply(entry.key, entry.value)
            except (TimeoutError, OSError) as exc:
                log.warning("registry.watch_restart", error=repr(exc))
            finally:
                with contextlib.suppress(OSError, asyncio.TimeoutError):
                    await watcher.stop()  # type: ignore[no-untyped-call]
            await asyncio.sleep(1)

    def others_dispatched(self, data: bytes, source: str, now: float) -> None:
        """Count a dispatch another submitter instance made (a ``job.dispatched`` event
        whose source is not `source`) in that backend's load, as our own are counted.

        Each instance counts its own dispatches since the last queue reading; without the
        others', two submitters each saw an idle backend and sent their bursts to it.
        """
        try:
            event = codec.decode(data)
        except PermanentError:
            return
        if isinstance(event, JobDispatched) and event.source != source:
            view = self.views.get(event.backend_id)
            if view is not None:
                view.dispatched(now)

    async def follow_others(self, bus: Bus, source: str) -> None:
        """Count other instances' dispatches until cancelled (core NATS: each stored
        ``job.dispatched`` event also reaches plain subscribers, none is stored twice)."""

        async def seen(msg: Msg) -> None:
            self.others_dispatched(msg.data, source, time.time())

        sub = await bus.nc.subscribe(f"{subjects.JOB_DISPATCHED}.>", cb=seen)
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
