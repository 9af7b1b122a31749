"""Everything a ComfyUI process holds in memory, and so loses when it restarts."""

from __future__ import annotations

import asyncio
import random
import string
from dataclasses import dataclass, field
from typing import Any

from comfysim.memory import GpuMemory
from comfysim.prompt_queue import PromptQueue
from comfysim.ws_hub import WsHub


@dataclass
class CachedNode:
    """A node's cached result: its UI output (for output nodes)."""

    ui: dict[str, Any] | None


@dataclass
class ProcessState:
    """Queue, history, node cache, sockets, GPU state and the interrupt flag of one process life."""

    gpu: GpuMemory
    queue: PromptQueue = field(default_factory=PromptQueue)
    hub: WsHub = field(default_factory=WsHub)
    cache: dict[str, CachedNode] = field(default_factory=dict)
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    pending_free: dict[str, bool] = field(default_factory=dict)
    wedged: bool = False
    last_node_id: str | None = None
    preview_prefixes: dict[str, str] = field(default_factory=dict)

    def running_client(self) -> str | None:
        """client_id of the running job, if any."""
        item = self.queue.running
        return item.client_id if item is not None else None

    def status_data(self, sid: str | None = None) -> dict[str, Any]:
        """Payload of a `status` message (the first one on a socket carries the sid)."""
        data: dict[str, Any] = {
            "status": {"exec_info": {"queue_remaining": self.queue.remaining()}}
        }
        if sid is not None:
            data["sid"] = sid
        return data

    def broadcast_status(self) -> None:
        """The `status` message ComfyUI broadcasts on every queue change."""
        self.hub.send("status", self.status_data())

    def greeting(self, sid: str) -> list[tuple[str, dict[str, Any]]]:
        """A new socket's first frames: status with sid, the reduced executing if its job runs."""
        frames: list[tuple[str, dict[str, Any]]] = [("status", self.status_data(sid))]
        if self.running_client() == sid and self.last_node_id is not None:
            frames.append(("executing", {"node": self.last_node_id}))
        return frames

    def preview_prefix(self, node_id: str, class_type: str) -> str:
        """PreviewImage's `ComfyUI_temp_xxxxx` prefix, fixed per node object like ComfyUI's."""
        key = f"{class_type}:{node_id}"
        if key not in self.preview_prefixes:
            letters = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
            self.preview_prefixes[key] = f"ComfyUI_temp_{letters}"
        return self.preview_prefixes[key]
