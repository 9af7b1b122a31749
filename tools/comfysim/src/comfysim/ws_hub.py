"""The /ws endpoint: one socket per client id, ComfyUI's routing, and its reconnect trap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import uuid
from collections.abc import Callable
from typing import Any, Final

from aiohttp import WSMsgType, web

PREVIEW_IMAGE: Final = 1
PREVIEW_IMAGE_WITH_METADATA: Final = 4
PNG_FORMAT: Final = 2

SERVER_FEATURES: Final = {
    "supports_preview_metadata": True,
    "supports_model_type_tags": True,
    "max_upload_size": 104857600,
    "extension": {"manager": {"supports_v4": True}},
    "node_replacements": True,
    "assets": False,
}
"""The feature flags a v0.33 server announces (GET /features and the ws reply)."""

Greeting = Callable[[str], list[tuple[str, dict[str, Any]]]]
"""sid → the frames a new socket gets first (status with sid, maybe the reduced executing)."""


class Peer:
    """One open websocket with its own ordered send queue (sends never block the executor)."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport
        self.flags: dict[str, Any] = {}
        self._queue: asyncio.Queue[tuple[str | bytes | None, float]] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump())

    def put(self, frame: str | bytes, delay_s: float = 0.0) -> None:
        """Queue a frame, sent after `delay_s` (the ws_slow fault)."""
        self._queue.put_nowait((frame, delay_s))

    async def _pump(self) -> None:
        while True:
            frame, delay_s = await self._queue.get()
            if frame is None:
                return
            if delay_s:
                await asyncio.sleep(delay_s)
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    def stop(self) -> None:
        """Stop sending once the queued frames are out."""
        self._queue.put_nowait((None, 0.0))

    def drop(self) -> None:
        """Cut the connection without a close frame (the client sees code 1006)."""
        self._task.cancel()
        if self.transport is not None:
            self.transport.abort()


class WsHub:
    """Registry sid → socket, exactly one per sid, as in ComfyUI's PromptServer."""

    def __init__(self) -> None:
        self.sockets: dict[str, Peer] = {}
        self.open_peers: set[Peer] = set()
        self.delay_s = 0.0

    def send(self, event: str, data: Any, sid: str | None = None) -> None:
        """Send to that sid's socket, or to every registered socket when sid is None."""
        frame = json.dumps({"type": event, "data": data})
        for peer in self._targets(sid):
            peer.put(frame, self.delay_s)

    def send_image(self, png: bytes, metadata: dict[str, Any], sid: str | None) -> None:
        """A binary image frame: type 4 for clients that announced preview metadata, else type 1."""
        for peer in self._targets(sid):
            if peer.flags.get("supports_preview_metadata"):
                meta = json.dumps(metadata).encode()
                frame = struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + png
            else:
                frame = struct.pack(">II", PREVIEW_IMAGE, PNG_FORMAT) + png
            peer.put(frame, self.delay_s)

    def supports_metadata(self, sid: str | None) -> bool:
        """Whether the target socket gets type-4 frames (which precede the progress message)."""
        peer = self.sockets.get(sid) if sid is not None else None
        return bool(peer and peer.flags.get("supports_preview_metadata"))

    def _targets(self, sid: str | None) -> list[Peer]:
        if sid is None:
            return list(self.sockets.values())
        peer = self.sockets.get(sid)
        return [peer] if peer is not None else []

    def drop_all(self) -> None:
        """Cut every open socket (ws_drop, crash)."""
        for peer in list(self.open_peers):
            peer.drop()
        self.sockets.clear()

    async def handle(self, request: web.Request, greeting: Greeting) -> web.WebSocketResponse:
        """GET /ws?clientId=…: register, greet, answer feature_flags, unregister on close."""
        ws = web.WebSocketResponse()
        transport = request.transport
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId") or uuid.uuid4().hex
        peer = Peer(ws, transport)
        self.sockets[sid] = peer
        self.open_peers.add(peer)
        for event, data in greeting(sid):
            peer.put(json.dumps({"type": event, "data": data}), self.delay_s)
        try:
            await self._read(ws, peer, sid)
        finally:
            # ComfyUI removes the sid whoever owns it now: the reconnect trap (capture 09a).
            self.sockets.pop(sid, None)
            self.open_peers.discard(peer)
            peer.stop()
        return ws

    async def _read(self, ws: web.WebSocketResponse, peer: Peer, sid: str) -> None:
        first = True
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError):
                data = json.loads(message.data)
                if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                    peer.flags = dict(data.get("data") or {})
                    self.send("feature_flags", SERVER_FEATURES, sid)
            first = False
