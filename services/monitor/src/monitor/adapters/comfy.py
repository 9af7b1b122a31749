"""Read-only ComfyUI access over HTTP: history, queue, system stats, nodes, models."""

from __future__ import annotations

import time
from typing import Any

import httpx

from contracts.backends import BackendRef
from monitor.errors import BackendDownError


class ComfyReader:
    """One backend's read endpoints. Transport failures become `BackendDownError`."""

    def __init__(self, ref: BackendRef, http: httpx.AsyncClient) -> None:
        self.ref = ref
        self.http = http

    async def _get(self, path: str) -> httpx.Response:
        try:
            return await self.http.get(f"{self.ref.url}{path}")
        except httpx.TransportError as exc:
            raise BackendDownError(f"{type(exc).__name__}: {exc}") from exc

    async def _json(self, path: str) -> Any:
        response = await self._get(path)
        if response.status_code != 200:
            raise BackendDownError(f"GET {path}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise BackendDownError(f"GET {path}: not JSON") from exc

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The prompt's history entry, or None while pending, running or unknown."""
        data = await self._json(f"/history/{prompt_id}")
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return entry if isinstance(entry, dict) else None

    async def _queue_items(self) -> tuple[list[list[Any]], list[list[Any]]]:
        data = await self._json("/queue")
        if not isinstance(data, dict):
            raise BackendDownError("GET /queue: not a JSON object")
        running, pending = data.get("queue_running"), data.get("queue_pending")
        if not isinstance(running, list) or not isinstance(pending, list):
            raise BackendDownError("GET /queue: no queue_running / queue_pending lists")
        return _items(running), _items(pending)

    async def queue(self) -> tuple[list[str], list[str]]:
        """Prompt ids running and pending."""
        running, pending = await self._queue_items()
        return [str(i[1]) for i in running], [str(i[1]) for i in pending]

    async def running_class(self, prompt_id: str, node_id: str) -> str | None:
        """The class_type of node `node_id` of `prompt_id`, if that prompt is running."""
        running, _ = await self._queue_items()
        for item in running:
            graph = item[2] if len(item) > 2 and isinstance(item[2], dict) else {}
            node = graph.get(node_id)
            if str(item[1]) == prompt_id and isinstance(node, dict):
                class_type = node.get("class_type")
                return class_type if isinstance(class_type, str) else None
        return None

    async def system_stats(self) -> tuple[dict[str, Any], float]:
        """GET /system_stats and its latency in milliseconds."""
        started = time.perf_counter()
        data = await self._json("/system_stats")
        return data, (time.perf_counter() - started) * 1000

    async def node_classes(self) -> list[str]:
        """Every node class the backend knows (from /object_info)."""
        data = await self._json("/object_info")
        return sorted(data) if isinstance(data, dict) else []

    async def models(self) -> dict[str, list[str]]:
        """Model files per folder (/models, then /models/{folder})."""
        folders = await self._json("/models")
        found: dict[str, list[str]] = {}
        for folder in folders if isinstance(folders, list) else []:
            response = await self._get(f"/models/{folder}")
            if response.status_code == 200:
                try:
                    files = response.json()
                except ValueError as exc:
                    raise BackendDownError(f"GET /models/{folder}: not JSON") from exc
                found[str(folder)] = [str(f) for f in files] if isinstance(files, list) else []
        return found


def _items(items: list[Any]) -> list[list[Any]]:
    """Queue items that have at least [number, prompt_id]."""
    return [i for i in items if isinstance(i, list) and len(i) > 1]
