"""Per-backend circuit breaker as a pure state machine (pybreaker does not do async).

::

    CLOSED ──N backend failures within window_s──▶ OPEN
    OPEN ──open_timeout_s elapsed──▶ HALF_OPEN
    HALF_OPEN ──M successes──▶ CLOSED
    HALF_OPEN ──one failure──▶ OPEN
    any ──quarantine──▶ OPEN

Every input names the event that caused it, so a redelivered event counts once. Times are
epoch seconds taken from the events themselves (replay gives the same answer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from contracts.backend import BreakerState
from contracts.taxonomy import FailureClass

BACKEND_ATTRIBUTABLE: Final = frozenset(
    {
        FailureClass.BACKEND_UNREACHABLE,
        FailureClass.BACKEND_ERROR,
        FailureClass.BACKEND_WEDGED,
        FailureClass.GPU_FAULT,
        FailureClass.DISK_FULL,
        FailureClass.STALLED,
        FailureClass.INTERRUPTED,
    }
)
"""Failures that count against a backend. EXTERNAL_SERVICE_ERROR never does: the
backend was healthy, a service a node called was not."""

ALLOWED: Final = frozenset(
    {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
    }
)
"""Every transition the machine may make (the state may also stay the same)."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Thresholds: N failures in a window open it; after a timeout M successes close it."""

    failure_threshold: int = 3
    window_s: float = 300.0
    open_timeout_s: float = 120.0
    half_open_successes: int = 2


@dataclass(frozen=True, slots=True)
class Breaker:
    """One backend's breaker.

    Attributes:
        failures: (event id, time) of the failures counted in the current window.
        successes: event ids of the successes seen while half-open.
        opened_at: when it last opened (None while it never did).
        cause: the event id of the last transition (derives the BreakerChanged id).
    """

    backend_id: str
    state: BreakerState = BreakerState.CLOSED
    failures: tuple[tuple[str, float], ...] = ()
    successes: tuple[str, ...] = ()
    opened_at: float | None = None
    reason: str = ""
    cause: str = ""


def tick(breaker: Breaker, now: float, config: BreakerConfig) -> Breaker:
    """OPEN becomes HALF_OPEN once the open timeout has passed."""
    if breaker.state is not BreakerState.OPEN or breaker.opened_at is None:
        return breaker
    if now - breaker.opened_at < config.open_timeout_s:
        return breaker
    cause = f"{breaker.cause}:half-open"
    return replace(breaker, state=BreakerState.HALF_OPEN, successes=(), cause=cause)


def record_failure(
    breaker: Breaker, event_id: str, at: float, config: BreakerConfig, reason: str = ""
) -> Breaker:
    """Count one backend-attributable failure."""
    current = tick(breaker, at, config)
    if current.state is BreakerState.OPEN:
        return current
    if current.state is BreakerState.HALF_OPEN:
        return _open(current, event_id, at, reason or "failed while half-open")
    if any(seen == event_id for seen, _ in current.failures):
        return current
    window = tuple(f for f in current.failures if at - f[1] < config.window_s)
    window = (*window, (event_id, at))
    if len(window) >= config.failure_threshold:
        return _open(current, event_id, at, reason or f"{len(window)} failures in window")
    return replace(current, failures=window)


def record_success(breaker: Breaker, event_id: str, at: float, config: BreakerConfig) -> Breaker:
    """Count one success; enough of them while half-open close the breaker."""
    current = tick(breaker, at, config)
    if current.state is not BreakerState.HALF_OPEN or event_id in current.successes:
        return current
    successes = (*current.successes, event_id)
    if len(successes) < config.half_open_successes:
        return replace(current, successes=successes)
    return Breaker(
        current.backend_id, reason="recovered", cause=event_id, opened_at=current.opened_at
    )


def quarantine(breaker: Breaker, event_id: str, at: float, reason: str) -> Breaker:
    """Open the breaker now, whatever its state (a quarantine decision)."""
    if breaker.state is BreakerState.OPEN and breaker.cause == event_id:
        return breaker
    return _open(breaker, event_id, at, reason)


def effective_state(breaker: Breaker, now: float, config: BreakerConfig) -> BreakerState:
    """The state at `now`, counting an elapsed open timeout."""
    return tick(breaker, now, config).state


def _open(breaker: Breaker, event_id: str, at: float, reason: str) -> Breaker:
    return replace(
        breaker,
        state=BreakerState.OPEN,
        failures=(),
        successes=(),
        opened_at=at,
        reason=reason,
        cause=event_id,
    )
