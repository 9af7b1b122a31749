"""GPU-time accounting: one record per prompt execution, as the backend saw it.

A record opens when the worker takes a prompt and closes when the run ends: success, error or
interruption (its history entry is read then), or `lost` when a crash cancels the run. A
wedged worker never opens one (nothing executes), a stalled prompt holds the GPU until it is
interrupted, so its time counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunRecord:
    """One execution of one prompt on one backend (wall-clock seconds since the epoch)."""

    prompt_id: str
    backend_id: str
    prompt: dict[str, Any]
    started: float
    ended: float | None = None
    status: str = "running"
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def gpu_seconds(self) -> float:
        """Time the prompt held the worker (up to now while it runs)."""
        return (self.ended if self.ended is not None else time.time()) - self.started

    def output_images(self) -> int:
        """Images saved to the output folder (temp previews excluded)."""
        return sum(
            1
            for node in self.outputs.values()
            if isinstance(node, dict)
            for image in node.get("images", [])
            if isinstance(image, dict) and image.get("type", "output") == "output"
        )


class GpuLedger:
    """Every run of every prompt on one backend, across restarts."""

    def __init__(self, backend_id: str) -> None:
        self.backend_id = backend_id
        self.records: list[RunRecord] = []

    def open(self, prompt_id: str, prompt: dict[str, Any]) -> RunRecord:
        """The worker took this prompt."""
        record = RunRecord(prompt_id, self.backend_id, prompt, time.time())
        self.records.append(record)
        return record

    def close(self, record: RunRecord, history_entry: dict[str, Any] | None) -> None:
        """The run ended; without a history entry it was lost (the process died under it)."""
        record.ended = time.time()
        if history_entry is None:
            record.status = "lost"
            return
        record.status = str(history_entry.get("status", {}).get("status_str", "error"))
        record.outputs = dict(history_entry.get("outputs") or {})
