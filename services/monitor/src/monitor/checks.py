"""What is wrong with a watched prompt right now: timeout, stall or wedged backend (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.watch import PromptWatch


@dataclass(frozen=True)
class Observation:
    """Something the monitor saw itself: its kind (evidence ``observation``) and a message."""

    kind: str
    message: str
    queued: bool = False
    """The prompt only waited in the backend's queue (see `FailureEvidence.queued`)."""


@dataclass(frozen=True)
class BackendPulse:
    """How alive a backend looks from here, at one moment.

    Attributes:
        connected: our websocket to it is open (without it, silence means nothing).
        quiet_s: seconds since its queue last moved or one of our prompts made progress.
        wedge_window_s: silence after which a backend whose queue does not move is wedged.
        down_s: seconds since our websocket to it dropped (0 while connected).
        unreachable_grace_s: how long it may stay unreachable before our prompts there are
            given up (BACKEND_UNREACHABLE), so recovery can move them elsewhere.
    """

    connected: bool
    quiet_s: float
    wedge_window_s: float
    down_s: float = 0.0
    unreachable_grace_s: float = 30.0


def observe(
    prompt: PromptWatch, pulse: BackendPulse, now: float, now_wall: float
) -> Observation | None:
    """The failure to report for `prompt`, or None while it is fine.

    A prompt that started executing (seen on the websocket) and then reports nothing is
    STALLED. One that never started, on a backend whose queue has not moved for the wedge
    window, is on a WEDGED backend, even when /queue lists it as running: a dead worker
    leaves its item there forever (TAXONOMY: "answers HTTP but executes nothing").

    Args:
        prompt: the watched prompt.
        pulse: the backend's liveness.
        now: monotonic clock (progress and dispatch times are monotonic).
        now_wall: wall clock (deadlines are wall-clock times).
    """
    if prompt.deadline_at is not None and now_wall > prompt.deadline_at:
        return Observation("timeout", "the job passed its deadline")
    # a prompt dispatched while our socket was still down (the backend answered HTTP again
    # before we reconnected) gets the whole grace of its own
    down_s = min(pulse.down_s, now - prompt.dispatched_at)
    if not pulse.connected and down_s > pulse.unreachable_grace_s:
        return Observation(
            "ws_closed",
            f"the backend has been unreachable for {down_s:.0f}s",
            queued=not prompt.running,
        )
    if prompt.running:
        if now - prompt.last_progress_at > prompt.stall_window_s:
            window = prompt.stall_window_s
            return Observation("stalled", f"no progress for {window:.0f}s while running")
        return None
    window = pulse.wedge_window_s
    if pulse.connected and pulse.quiet_s > window and now - prompt.dispatched_at > window:
        where = "listed as running" if prompt.listed_running else "queued"
        return Observation(
            "wedged",
            f"the backend's queue has not moved for {window:.0f}s; our prompt is {where} "
            "but never started",
            queued=not prompt.listed_running,
        )
    return None
