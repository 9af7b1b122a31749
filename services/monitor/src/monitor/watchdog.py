"""A backend's liveness as the monitor sees it, folded from observations (pure).

Every method takes the monotonic time of the observation, so the windows built on it
(wedge, unreachable grace, deaf socket, lost prompt, progress rate) are tested with a
fake clock. The queue's progress is tracked apart from the websocket: a reconnect, ours
or not, says nothing about the queue moving, so it never restarts the wedge window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from monitor.checks import BackendPulse
from monitor.watch import PromptWatch

DEAF_AFTER_S: Final = 10.0
"""Our prompt listed as running this long with no websocket message about it: reconnect."""


@dataclass
class Liveness:
    """One backend's socket state and the last time its queue was seen moving.

    Attributes:
        queue_moved_at: when the queue last moved (another prompt is running than at the
            last /queue read, or ours made progress); starts when watching starts.
        connected: our websocket is open.
        connected_at: when it was last opened.
        down_since: when it dropped (None while connected, or before the first try).
        queue_remaining: the last ``queue_remaining`` heard (kept across reconnects).
        running: the prompt ids /queue last listed as running (None before the first read).
    """

    queue_moved_at: float
    connected: bool = False
    connected_at: float = 0.0
    down_since: float | None = None
    queue_remaining: int | None = None
    running: tuple[str, ...] | None = field(default=None)

    def opened(self, now: float) -> None:
        """Our websocket is open (again); the wedge window goes on."""
        self.connected, self.connected_at, self.down_since = True, now, None

    def closed(self, now: float) -> None:
        """Our websocket dropped; the unreachable window starts at the first drop."""
        self.connected = False
        if self.down_since is None:
            self.down_since = now

    def moved(self, now: float) -> None:
        """The queue moved, or one of our prompts made progress."""
        self.queue_moved_at = now

    def status(self, remaining: int | None, now: float) -> None:
        """A ``status`` message: the figure is kept, but a shorter queue is not movement.
        Deleting queued prompts shortens it too: on a wedged backend the prompts of jobs
        that reach their deadline are deleted one after another, and counting that as
        movement hid the wedge for as long as deadlines kept coming. A prompt that really
        ran changes what /queue lists as running (`listed`) or reports on our socket."""
        del now
        if remaining is not None:
            self.queue_remaining = remaining

    def listed(self, running: Sequence[str], now: float) -> None:
        """A /queue read: other prompts running than last time means the queue moved."""
        listed = tuple(running)
        if self.running is not None and listed != self.running:
            self.moved(now)
        self.running = listed

    def pulse(self, now: float, wedge_window_s: float, unreachable_grace_s: float) -> BackendPulse:
        """The backend's liveness at `now`, for `checks.observe`."""
        down = 0.0 if self.down_since is None or self.connected else now - self.down_since
        return BackendPulse(
            self.connected, now - self.queue_moved_at, wedge_window_s, down, unreachable_grace_s
        )

    def deaf(self, prompts: Iterable[PromptWatch], now: float) -> PromptWatch | None:
        """A prompt /queue lists as running that our socket has heard nothing of, once both
        the prompt and the socket are older than `DEAF_AFTER_S` (then: reopen the socket).

        A socket opened with our clientId before the old one closed is left deaf by ComfyUI
        (API.md §7); a fresh connection gets the running node again.
        """
        if not self.connected or now - self.connected_at <= DEAF_AFTER_S:
            return None
        return next(
            (
                p
                for p in prompts
                if p.listed_running and not p.running and now - p.dispatched_at > DEAF_AFTER_S
            ),
            None,
        )


def lost_due(prompt: PromptWatch, now: float, grace_s: float) -> bool:
    """Whether a prompt absent from queue and history has been gone past the grace."""
    return now - prompt.dispatched_at > grace_s


def progress_due(prompt: PromptWatch, now: float, value: int, top: int, min_gap_s: float) -> bool:
    """Whether a progress report goes out now (at most one per `min_gap_s`, and the last)."""
    return now - prompt.last_progress_sent >= min_gap_s or value >= top
