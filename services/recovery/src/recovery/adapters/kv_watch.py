"""Follow a KV key (or the whole bucket): take the current values, then every change."""

from __future__ import annotations

from collections.abc import Callable

from nats.js.kv import KeyValue

Absorb = Callable[[KeyValue.Entry], None]


class KvFollower:
    """Feeds every entry of a watch to `absorb`: first what is there, then each update."""

    def __init__(self, kv: KeyValue, keys: str, absorb: Absorb) -> None:
        self._kv = kv
        self._keys = keys
        self._absorb = absorb
        self._watcher: KeyValue.KeyWatcher | None = None

    async def load(self) -> None:
        """Start the watch and absorb the current values (the watch's initial batch)."""
        self._watcher = await self._kv.watch(self._keys)
        async for entry in self._watcher:
            if entry is None:
                break
            self._absorb(entry)

    async def follow(self) -> None:
        """Absorb every later change until cancelled."""
        if self._watcher is None:
            await self.load()
        assert self._watcher is not None
        async for entry in self._watcher:
            if entry is not None:
                self._absorb(entry)


class KvView:
    """A view kept current from KV by its `_follower`: `load` once, then `watch` in a task."""

    _follower: KvFollower

    async def load(self) -> None:
        """Start watching and take every current value."""
        await self._follower.load()

    async def watch(self) -> None:
        """Apply every later change (from any instance or the monitor) until cancelled."""
        await self._follower.follow()
