"""The messages of one running job: who receives them, progress_state bookkeeping, history log."""

from __future__ import annotations

import time
from typing import Any

from comfysim.process import ProcessState


def now_ms() -> int:
    """Epoch milliseconds, ComfyUI's `timestamp`."""
    return int(time.time() * 1000)


class JobChannel:
    """Routes one job's events as ComfyUI does and keeps its progress_state and history messages."""

    def __init__(self, proc: ProcessState, prompt_id: str, client_id: str | None) -> None:
        self.proc = proc
        self.prompt_id = prompt_id
        self.client_id = client_id
        self.states: dict[str, dict[str, Any]] = {}
        self.history_messages: list[list[Any]] = []

    def to_client(self, event: str, data: dict[str, Any]) -> None:
        """Events that only the job's own client gets (nobody when it has no client_id)."""
        if self.client_id is not None:
            self.proc.hub.send(event, data, self.client_id)

    def to_client_or_all(self, event: str, data: dict[str, Any]) -> None:
        """Events that go to the job's client, or to every socket when it has none."""
        self.proc.hub.send(event, data, self.client_id)

    def record(self, event: str, data: dict[str, Any], broadcast: bool = False) -> None:
        """A lifecycle message history keeps (execution_start/cached/success/error/interrupted)."""
        self.history_messages.append([event, data])
        if broadcast:
            self.to_client_or_all(event, data)
        else:
            self.to_client(event, data)

    def executing(self, node_id: str | None) -> None:
        """`executing` for a node start, or with node null when the job is over."""
        if node_id is None:
            self.to_client("executing", {"node": None, "prompt_id": self.prompt_id})
        else:
            self.to_client(
                "executing", {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id}
            )
        self.proc.last_node_id = node_id

    def executed(self, node_id: str, ui: dict[str, Any]) -> None:
        """`executed` with a node's UI output."""
        data = {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": self.prompt_id}
        self.to_client("executed", data)

    def started(self, node_id: str) -> None:
        """progress_state with the node running at 0 of 1."""
        self._set(node_id, 0.0, 1.0, "running")

    def progressed(self, node_id: str, value: int, total: int, image: bytes | None = None) -> None:
        """progress_state then progress (a type-4 preview frame goes between, type 1 after)."""
        self._set(node_id, value, total, "running")
        metadata_first = self.proc.hub.supports_metadata(self.client_id)
        if image is not None and metadata_first:
            self._image(node_id, image)
        data = {"value": value, "max": total, "prompt_id": self.prompt_id, "node": node_id}
        self.to_client_or_all("progress", data)
        if image is not None and not metadata_first:
            self._image(node_id, image)

    def finished(self, node_id: str) -> None:
        """progress_state with the node finished (value = max; 1 of 1 for never-started nodes)."""
        state = self.states.get(node_id)
        total = state["max"] if state else 1
        self._set(node_id, total, total, "finished")

    def _set(self, node_id: str, value: Any, total: Any, state: str) -> None:
        self.states[node_id] = {
            "value": value,
            "max": total,
            "state": state,
            "node_id": node_id,
            "prompt_id": self.prompt_id,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
        }
        nodes = {key: dict(entry) for key, entry in self.states.items()}
        self.to_client_or_all("progress_state", {"prompt_id": self.prompt_id, "nodes": nodes})

    def _image(self, node_id: str, png: bytes) -> None:
        metadata = {
            "node_id": node_id,
            "prompt_id": self.prompt_id,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
            "image_type": "image/png",
        }
        self.proc.hub.send_image(png, metadata, self.client_id)
