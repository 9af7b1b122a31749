"""The monitor's clock, injected so that time-driven checks are tested without waiting."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Two readings: a monotonic one for windows, the wall clock for deadlines."""

    def now(self) -> float:
        """Monotonic seconds (stall, wedge, lost and unreachable windows)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (job deadlines are wall-clock times)."""
        ...


class SystemClock:
    """The real clock: `time.monotonic` and `time.time`."""

    def now(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def wall(self) -> float:
        """`time.time()`."""
        return time.time()


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told (tests, simulations): see `advance`."""

    def __init__(self, now: float = 1000.0, wall: float = 1_800_000_000.0) -> None:
        self._now = now
        self._wall = wall

    def now(self) -> float:
        """The current monotonic reading."""
        return self._now

    def wall(self) -> float:
        """The current wall-clock reading (moves with `now`)."""
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both readings forward by `seconds`."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds}s)")
        self._now += seconds
        self._wall += seconds
