"""Replaying captured exchanges against a fresh, capture-shaped simulated backend."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from comfysim.cluster import SimCluster
from comfysim.contract import assert_same_frames, assert_same_reply, captured_frames, send
from comfysim.spec import SimBackendSpec
from comfysim.testing import WsRecorder, finished, of_type, wait_history


def capture_spec(step_time_s: float) -> SimBackendSpec:
    """A backend shaped like the captured server: CPU, 24 GiB RAM, one corrupt checkpoint."""
    return SimBackendSpec(
        id="capture",
        device_name="cpu",
        device_type="cpu",
        ram_total=25276063744,
        models={"checkpoints": ["corrupt_for_capture.safetensors"]},
        corrupt_models=["corrupt_for_capture.safetensors"],
        step_time_s=step_time_s,
    )


class Live:
    """The simulator a case runs against."""

    def __init__(self, cluster: SimCluster, http: httpx.AsyncClient) -> None:
        self.cluster = cluster
        self.backend = cluster.backend("capture")
        self.url = self.backend.url
        self.http = http

    async def ws(self, client_id: str | None, flags: dict[str, Any] | None = None) -> WsRecorder:
        """A recording socket, once its greeting has arrived."""
        recorder = await WsRecorder.connect(self.url, client_id, flags)
        await recorder.wait_for(of_type("status"))
        if flags is not None:
            await recorder.wait_for(of_type("feature_flags"))
        return recorder

    async def settle(self) -> None:
        """Let queued frames reach the sockets (a later socket's greeting comes after them)."""
        probe = await self.ws(None)
        await probe.close()
        await asyncio.sleep(0.05)

    async def run(self, request: dict[str, Any]) -> str:
        """Submit a captured request and wait until its history entry exists."""
        reply = await send(self.http, request)
        assert reply.status_code == 200, reply.text
        prompt_id = str(reply.json()["prompt_id"])
        await wait_history(self.http, prompt_id)
        return prompt_id


@contextlib.asynccontextmanager
async def live(step_time_s: float = 0.01) -> AsyncIterator[Live]:
    """A fresh capture-shaped backend for one case."""
    cluster = SimCluster([capture_spec(step_time_s)])
    async with cluster:
        url = cluster.backend("capture").url
        async with httpx.AsyncClient(base_url=url, timeout=15) as http:
            yield Live(cluster, http)


async def replay_prompt(
    sim: Live, data: dict[str, Any], flags: dict[str, Any] | None = None, exact: bool = True
) -> None:
    """One POST /prompt with its websocket (and history) compared."""
    capture_ws = data.get("websocket")
    ws = await sim.ws(capture_ws["client_id"], flags) if capture_ws else None
    reply = await send(sim.http, data["request"])
    assert_same_reply(data["response"], reply, "reply")
    prompt_id = reply.json().get("prompt_id") if reply.status_code == 200 else None
    if prompt_id and ws is not None:
        await ws.wait_for(finished(prompt_id))
    if "history_response" in data:
        assert_same_reply(
            data["history_response"], await sim.http.get(f"/history/{prompt_id}"), "history"
        )
    if ws is not None and capture_ws is not None:
        await sim.settle()
        assert_same_frames(captured_frames(capture_ws), ws.frames, "websocket", exact)
        await ws.close()


CallHandler = Callable[[Live, dict[str, Any]], Awaitable[httpx.Response | None]]


async def replay_calls(
    sim: Live, calls: list[dict[str, Any]], special: dict[int, CallHandler] | None = None
) -> None:
    """A list of {request, response} pairs, in order; `special` sends the ones a note describes."""
    for index, call in enumerate(calls):
        handler = (special or {}).get(index)
        reply = (
            await handler(sim, call["request"])
            if handler
            else await send(sim.http, call["request"])
        )
        if reply is not None:
            assert_same_reply(call["response"], reply, f"call {index} {call['request']['path']}")


async def skip_call(sim: Live, request: dict[str, Any]) -> None:
    """A call listed in NOT_COMPARED."""
    return None
