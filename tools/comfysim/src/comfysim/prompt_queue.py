"""The prompt queue (a heap by number), the running item, and the history, as in ComfyUI."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, Final

MAX_HISTORY: Final = 10000


@dataclass
class QueueItem:
    """One accepted prompt: the 5-element array GET /queue shows, plus the sensitive part."""

    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    sensitive: dict[str, Any] = field(default_factory=dict)

    def as_list(self) -> list[Any]:
        """[number, prompt_id, prompt, extra_data, outputs_to_execute]."""
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]

    @property
    def client_id(self) -> str | None:
        """The websocket client the job's events go to."""
        return self.extra_data.get("client_id")


class PromptQueue:
    """Pending heap, the item being run, and history entries in insertion order."""

    def __init__(self) -> None:
        self.number = 0
        self.running: QueueItem | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self._heap: list[tuple[float, str, int, QueueItem]] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()

    def next_number(self, front: bool) -> int:
        """Take the counter (it moves on every POST /prompt without `number`)."""
        number = -self.number if front else self.number
        self.number += 1
        return number

    def put(self, item: QueueItem) -> None:
        """Queue an accepted prompt."""
        heapq.heappush(self._heap, (item.number, item.prompt_id, next(self._seq), item))
        self._changed.set()

    async def take(self) -> QueueItem:
        """Wait for the lowest-numbered pending prompt and mark it running."""
        while not self._heap:
            self._changed.clear()
            await self._changed.wait()
        item = heapq.heappop(self._heap)[3]
        self.running = item
        return item

    def peek(self) -> QueueItem | None:
        """The prompt `take` would return now."""
        return self._heap[0][3] if self._heap else None

    def pending(self) -> list[QueueItem]:
        """Pending items in heap order (what GET /queue shows)."""
        return [entry[3] for entry in self._heap]

    def remaining(self) -> int:
        """queue_remaining: pending plus running."""
        return len(self._heap) + (1 if self.running is not None else 0)

    def delete(self, prompt_id: str) -> bool:
        """Remove a pending item; whether it was there."""
        kept = [entry for entry in self._heap if entry[1] != prompt_id]
        removed = len(kept) != len(self._heap)
        self._heap = kept
        heapq.heapify(self._heap)
        return removed

    def clear(self) -> None:
        """Remove every pending item."""
        self._heap.clear()

    def finish(self, entry: dict[str, Any]) -> None:
        """Record the running item's history entry and free the worker."""
        assert self.running is not None
        self.history[self.running.prompt_id] = entry
        while len(self.history) > MAX_HISTORY:
            del self.history[next(iter(self.history))]
        self.running = None

    def get_history(self, max_items: int | None = None, offset: int = -1) -> dict[str, Any]:
        """GET /history with ComfyUI's max_items/offset arithmetic."""
        if max_items is None:
            return dict(self.history)
        if offset < 0:
            offset = len(self.history) - max_items
        out: dict[str, Any] = {}
        for index, key in enumerate(self.history):
            if index >= offset:
                out[key] = self.history[key]
                if len(out) >= max_items:
                    break
        return out
