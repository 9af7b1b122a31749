"""Envoy-style outlier ejection: whether a backend failing at some rate may be taken out
of the fleet (pure). `recovery.breaker` asks before it opens a breaker on its rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recovery.breaker import BreakerConfig


@dataclass(frozen=True, slots=True)
class Fleet:
    """The rest of the fleet when one backend's breaker would open on its rate.

    Attributes:
        size: backends known, this one included.
        ejected: other backends out now (breaker open, quarantines included).
        calls: the other backends' calls in their windows.
        failed: how many of those failed.
    """

    size: int = 1
    ejected: int = 0
    calls: int = 0
    failed: int = 0


def may_eject(rate: float, fleet: Fleet, config: BreakerConfig) -> bool:
    """Whether a backend failing at `rate` may be taken out of `fleet`: it is an outlier
    (the others fail markedly less, or have no calls to compare with) and the share of
    the fleet already out leaves room for one more."""
    room = max(1, int(fleet.size * config.max_ejected_fraction))
    if fleet.ejected + 1 > room:
        return False
    others = fleet.failed / fleet.calls if fleet.calls else 0.0
    return rate - others >= config.outlier_margin
