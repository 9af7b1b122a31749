"""Client-side helpers for tests that drive a simulated (or real) ComfyUI over HTTP and /ws."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any, Final

import httpx
import websockets

SAFETY_TIMEOUT_S: Final = 15.0
"""Upper bound on any wait, so a broken simulator fails a test instead of hanging it."""

Frame = dict[str, Any] | bytes


class WsRecorder:
    """A websocket client that records every frame it receives."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls, base_url: str, client_id: str | None = None, flags: dict[str, Any] | None = None
    ) -> WsRecorder:
        """Open /ws (with ?clientId= when given), optionally announcing feature flags first."""
        url = (
            base_url.replace("http://", "ws://")
            + "/ws"
            + (f"?clientId={client_id}" if client_id else "")
        )
        ws = await websockets.connect(url, max_size=None)
        if flags is not None:
            await ws.send(json.dumps({"type": "feature_flags", "data": flags}))
        return cls(ws)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                frame: Frame = raw if isinstance(raw, bytes) else json.loads(raw)
                async with self._arrived:
                    self.frames.append(frame)
                    self._arrived.notify_all()
        async with self._arrived:
            self._arrived.notify_all()

    def texts(self, start: int = 0) -> list[dict[str, Any]]:
        """The JSON frames from index `start` on."""
        return [f for f in self.frames[start:] if isinstance(f, dict)]

    def types(self, start: int = 0) -> list[str]:
        """Message types from index `start` on (binary frames as `binary:<event type>`)."""
        return [
            f["type"] if isinstance(f, dict) else f"binary:{int.from_bytes(f[:4], 'big')}"
            for f in self.frames[start:]
        ]

    @property
    def closed(self) -> bool:
        """Whether the server side has gone away."""
        return self._reader.done()

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], start: int = 0
    ) -> dict[str, Any]:
        """The first JSON frame from `start` on that satisfies `predicate` (waits for it)."""
        async with asyncio.timeout(SAFETY_TIMEOUT_S), self._arrived:
            while True:
                for frame in self.texts(start):
                    if predicate(frame):
                        return frame
                if self.closed:
                    raise ConnectionError("websocket closed before the frame arrived")
                await self._arrived.wait()

    async def wait_closed(self) -> None:
        """Wait until the server closes or drops the socket."""
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            await asyncio.shield(self._reader)

    async def close(self) -> None:
        """Close from the client side."""
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


def finished(prompt_id: str) -> Callable[[dict[str, Any]], bool]:
    """Predicate: the `executing` frame with node null for this prompt (the safe 'done')."""

    def check(frame: dict[str, Any]) -> bool:
        data = frame.get("data", {})
        return (
            frame.get("type") == "executing"
            and data.get("node") is None
            and data.get("prompt_id") == prompt_id
        )

    return check


def of_type(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """Predicate: a frame of this type whose data has these field values."""

    def check(frame: dict[str, Any]) -> bool:
        data = frame.get("data", {})
        return frame.get("type") == kind and all(data.get(k) == v for k, v in fields.items())

    return check


async def submit_and_wait(
    http: httpx.AsyncClient, ws: WsRecorder, body: dict[str, Any]
) -> tuple[httpx.Response, list[Frame]]:
    """POST /prompt and wait for the job's end on `ws`; the reply and the frames of this job."""
    start = len(ws.frames)
    reply = await http.post("/prompt", json=body)
    reply.raise_for_status()
    await ws.wait_for(finished(reply.json()["prompt_id"]), start)
    return reply, ws.frames[start:]


async def wait_history(http: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    """Poll GET /history/{id} until the entry exists (for jobs whose events we cannot see)."""
    async with asyncio.timeout(SAFETY_TIMEOUT_S):
        while True:
            body = (await http.get(f"/history/{prompt_id}")).json()
            if body:
                entry: dict[str, Any] = body[prompt_id]
                return entry
            await asyncio.sleep(0.01)


async def wait_running(http: httpx.AsyncClient, prompt_id: str) -> None:
    """Poll GET /queue until the prompt is the running one."""
    async with asyncio.timeout(SAFETY_TIMEOUT_S):
        while True:
            running = (await http.get("/queue")).json()["queue_running"]
            if running and running[0][1] == prompt_id:
                return
            await asyncio.sleep(0.01)


class SimSession:
    """One backend, an HTTP client and a websocket registered under `client_id`."""

    def __init__(self, url: str, http: httpx.AsyncClient, ws: WsRecorder, client_id: str) -> None:
        self.url = url
        self.http = http
        self.ws = ws
        self.client_id = client_id

    def body(self, prompt: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A POST /prompt body for this session's client."""
        return {"prompt": prompt, "client_id": self.client_id, **extra}

    async def run(self, prompt: dict[str, Any], **extra: Any) -> tuple[dict[str, Any], list[Frame]]:
        """Submit and wait for the end: (reply JSON, this job's frames)."""
        reply, frames = await submit_and_wait(self.http, self.ws, self.body(prompt, **extra))
        return reply.json(), frames

    async def submit(self, prompt: dict[str, Any], **extra: Any) -> str:
        """Submit without waiting; the prompt_id (the reply must be a 200)."""
        reply = await self.http.post("/prompt", json=self.body(prompt, **extra))
        reply.raise_for_status()
        return str(reply.json()["prompt_id"])

    async def history(self, prompt_id: str) -> dict[str, Any]:
        """The finished job's history entry (waits for it)."""
        return await wait_history(self.http, prompt_id)
