"""ComfyUI over HTTP for writes: POST /prompt, /interrupt, /free, /queue, uploads."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from contracts.backends import BackendRef
from submitter.errors import ComfyReplyError, ComfyUnreachableError


@dataclass(frozen=True)
class PromptReply:
    """ComfyUI's answer to POST /prompt: status, parsed JSON (if any) and the raw body."""

    status: int
    body: str
    json: Any


def make_http(connect_s: float, read_s: float, max_connections: int) -> httpx.AsyncClient:
    """One pooled client with separate connect and read timeouts."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_s, connect=connect_s),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
    )


class ComfyClient:
    """One backend. Transport failures become `ComfyUnreachableError`, unexpected replies
    `ComfyReplyError`; no httpx exception leaves this class."""

    def __init__(self, ref: BackendRef, http: httpx.AsyncClient) -> None:
        self.ref = ref
        self.http = http

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, f"{self.ref.url}{path}", **kwargs)
        except httpx.TransportError as exc:
            raise ComfyUnreachableError(
                self.ref.id, f"httpx.{type(exc).__name__}", str(exc) or type(exc).__name__
            ) from exc

    async def post_prompt(self, body: dict[str, Any]) -> PromptReply:
        """POST /prompt; the reply is returned whatever its status."""
        response = await self._request("POST", "/prompt", json=body)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        return PromptReply(response.status_code, response.text, parsed)

    async def _json(self, path: str) -> dict[str, Any]:
        """GET `path`, which must answer 200 with a JSON object."""
        response = await self._request("GET", path)
        try:
            data = response.json() if response.status_code == 200 else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ComfyReplyError(self.ref.id, f"GET {path}", response.status_code, response.text)
        return data

    async def has_prompt(self, prompt_id: str) -> bool:
        """Whether `prompt_id` is queued, running or in history (posted before)."""
        if prompt_id in await self._json(f"/history/{prompt_id}"):
            return True
        return prompt_id in await self.queued_prompt_ids()

    async def queue(self) -> dict[str, Any]:
        """GET /queue: running and pending items (5-element arrays)."""
        data = await self._json("/queue")
        for key in ("queue_running", "queue_pending"):
            if not isinstance(data.get(key, []), list):
                raise ComfyReplyError(self.ref.id, "GET /queue", 200, str(data)[:2000])
        return data

    async def queued_prompt_ids(self) -> set[str]:
        """Ids of every running or pending prompt."""
        data = await self.queue()
        items = data.get("queue_running", []) + data.get("queue_pending", [])
        return {str(item[1]) for item in items if isinstance(item, list) and len(item) > 1}

    async def interrupt(self, prompt_id: str) -> None:
        """Interrupt `prompt_id` if it is running (never the global form)."""
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        """Remove pending prompts (the running one is not touched)."""
        await self._request("POST", "/queue", json={"delete": prompt_ids})

    async def free(self, unload_models: bool, free_memory: bool) -> None:
        """POST /free: unload models and/or drop the node cache."""
        await self._request(
            "POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory}
        )

    async def upload_image(self, name: str, data_b64: str, subfolder: str) -> None:
        """POST /upload/image with overwrite, so a re-upload replaces a damaged file."""
        files = {"image": (name, base64.b64decode(data_b64), "application/octet-stream")}
        form = {"type": "input", "subfolder": subfolder, "overwrite": "true"}
        response = await self._request("POST", "/upload/image", files=files, data=form)
        if not response.is_success:
            raise ComfyReplyError(
                self.ref.id, "POST /upload/image", response.status_code, response.text
            )
