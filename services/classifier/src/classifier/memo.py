"""A bounded least-recently-used memo: the same evidence classified once per rule set."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """At most `size` entries; the least recently used one goes first (with `lru=False`, the
    oldest: a hit then costs one lookup, not two). Not thread-safe (the service classifies on
    one event loop)."""

    __slots__ = ("_entries", "_lru", "size")

    def __init__(self, size: int, *, lru: bool = True) -> None:
        self.size = size
        self._lru = lru
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value kept for `key`, or None."""
        value = self._entries.get(key)
        if value is not None and self._lru:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key`, dropping the oldest entry beyond `size`."""
        self._entries[key] = value
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
