"""Identical graphs held once: bounded caches keyed by a graph's exact JSON.

A farm runs the same few workflows again and again. Without sharing, the replay at start
holds one decoded copy of the graph per job and per decision (about 10 kB and 150 objects
each: a million events of 100,000 jobs kept a gigabyte alive) and analyses each job's
graph anew. Graphs are immutable values (`recovery.graph`), so equal ones can be one object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Generic, TypeVar

import msgspec
from msgspec.structs import replace

from contracts.recovery import Dispatch, RecoveryDecided
from recovery.graph import Workflow

T = TypeVar("T")
KEY: Final = msgspec.json.Encoder()
"""Makes the keys: the exact JSON, so only identical values (same order too) share."""
GRAPHS_KEPT: Final = 1024
"""Distinct dispatched graphs held for sharing (each job's own edits make a few per workflow)."""


class Recent(Generic[T]):
    """The values of the `size` most recently used keys."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: dict[bytes, T] = {}
        """Least recently used first."""

    def get(self, key: bytes, make: Callable[[], T]) -> T:
        """The value kept for `key`, else `make()` (kept, dropping the least recently used)."""
        if key in self._values:
            value = self._values.pop(key)
        else:
            value = make()
            if len(self._values) >= self.size:
                del self._values[next(iter(self._values))]
        self._values[key] = value
        return value


_graphs: Final = Recent[Workflow](GRAPHS_KEPT)


def shared(workflow: Workflow) -> Workflow:
    """An identical graph seen before, else `workflow` (then kept for the next one)."""
    return _graphs.get(KEY.encode(workflow), lambda: workflow)


def sharing_graphs(decided: RecoveryDecided) -> RecoveryDecided:
    """`decided`, equal, with its dispatched graphs shared (`shared`)."""
    if not any(isinstance(action, Dispatch) for action in decided.actions):
        return decided
    actions = [
        replace(a, workflows=[shared(w) for w in a.workflows]) if isinstance(a, Dispatch) else a
        for a in decided.actions
    ]
    return replace(decided, actions=actions)
