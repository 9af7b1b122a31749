"""What the monitor watches: our prompts per attempt, as a fold over job events (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.codec import AnyEvent
from contracts.job import InterruptSent, JobCompleted, JobDispatched, JobFailed


@dataclass
class PromptWatch:
    """One prompt of ours on one backend."""

    prompt_id: str
    job_id: str
    attempt: int
    part: int
    backend_id: str
    dispatched_at: float
    deadline_at: float | None = None
    stall_window_s: float = 120.0
    output_nodes: list[str] = field(default_factory=list)
    running: bool = False
    """It started executing: seen on the websocket (execution_start, executing, progress)."""
    listed_running: bool = False
    """/queue lists it as running (a dead worker's item stays listed; see `checks`)."""
    last_progress_at: float = 0.0
    node: str | None = None
    node_type: str | None = None
    done: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    interrupted_by_us: bool = False
    last_progress_sent: float = 0.0


@dataclass
class AttemptWatch:
    """All prompts of one (job, attempt); it completes when every one has."""

    job_id: str
    attempt: int
    backend_id: str
    prompts: dict[str, PromptWatch]
    causation_id: str


class WatchSet:
    """Active attempts, keyed by (job, attempt), and their prompts by id."""

    def __init__(self) -> None:
        self.attempts: dict[tuple[str, int], AttemptWatch] = {}
        self.prompts: dict[str, PromptWatch] = {}
        self.interrupted: set[str] = set()
        self.finished: set[tuple[str, int]] = set()

    def apply(self, event: AnyEvent, now: float) -> None:
        """Fold one event in (order-insensitive: a finished attempt is never re-added)."""
        match event:
            case JobDispatched():
                self._add(event, now)
            case JobCompleted() | JobFailed():
                self._finish((event.job_id, event.attempt))
            case InterruptSent():
                self.interrupted.add(event.prompt_id)
                if event.prompt_id in self.prompts:
                    self.prompts[event.prompt_id].interrupted_by_us = True

    def _add(self, event: JobDispatched, now: float) -> None:
        key = (event.job_id, event.attempt)
        if key in self.finished or key in self.attempts:
            return
        prompts = {
            p.prompt_id: PromptWatch(
                prompt_id=p.prompt_id,
                job_id=event.job_id,
                attempt=event.attempt,
                part=p.part,
                backend_id=event.backend_id,
                dispatched_at=now,
                deadline_at=event.deadline_at,
                stall_window_s=event.stall_window_s,
                output_nodes=list(p.output_nodes),
                last_progress_at=now,
                interrupted_by_us=p.prompt_id in self.interrupted,
            )
            for p in event.prompts
        }
        self.attempts[key] = AttemptWatch(
            event.job_id, event.attempt, event.backend_id, prompts, event.event_id
        )
        self.prompts.update(prompts)

    def apply_finished(self, job_id: str, attempt: int) -> None:
        """Stop watching an attempt whose outcome we have just published."""
        self._finish((job_id, attempt))

    def _finish(self, key: tuple[str, int]) -> None:
        self.finished.add(key)
        attempt = self.attempts.pop(key, None)
        if attempt is not None:
            for prompt_id in attempt.prompts:
                self.prompts.pop(prompt_id, None)

    def on_backend(self, backend_id: str) -> list[PromptWatch]:
        """Unfinished prompts of ours on `backend_id`."""
        return [p for p in self.prompts.values() if p.backend_id == backend_id and not p.done]

    def attempt_of(self, prompt: PromptWatch) -> AttemptWatch | None:
        """The attempt a prompt belongs to."""
        return self.attempts.get((prompt.job_id, prompt.attempt))
