"""One backoff for in-process retries: exponential, capped, jittered.

JetStream nak delays are data (`contracts.streams`, consumer policies), not this.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

_MAX_EXPONENT = 64
"""Past this many doublings every delay is capped anyway (and 2.0**1100 overflows)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays for retry number 1, 2, …: ``initial_s * factor**(n-1)``, at most ``max_s``,
    then spread by ±``jitter`` (a fraction) so that many clients do not retry in step."""

    initial_s: float
    max_s: float
    factor: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The delay before retry `attempt` (1 for the first); `rng` returns [0, 1)."""
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        base = min(self.initial_s * self.factor**exponent, self.max_s)
        return base * (1.0 + self.jitter * (2.0 * rng() - 1.0))
