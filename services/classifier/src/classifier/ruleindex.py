"""An index of a rule set: which rules can possibly match given facts, in rule order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from classifier.facts import Facts

if TYPE_CHECKING:
    from classifier.rules import Rule

INDEXED: Final = (
    "observation",
    "validation_type",
    "interrupted_by_us",
    "http_status",
    "exception_types",
    "value_kind",
)
"""Facts attributes a rule can be filed under (its first, most selective condition)."""
_SCALARS: Final = tuple(attr for attr in INDEXED if attr != "exception_types")


class RuleIndex:
    """Files each rule under a necessary condition: a structured value, or one of its needles.

    A rule gated only on ASCII facts (some pattern needs a non-ASCII character) is filed under
    that gate and is a candidate for all non-ASCII facts. A rule with neither is always one.
    `candidates` returns a superset of the rules that match, in order, so first-match
    semantics are kept while most rules are skipped.
    """

    __slots__ = ("_always", "_by_needle", "_by_value", "_filed", "_unless_ascii", "rules")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._always = 0
        self._unless_ascii = 0
        self._by_value: dict[tuple[str, Any], int] = defaultdict(int)
        self._by_needle: dict[str, int] = defaultdict(int)
        for position, rule in enumerate(self.rules):
            self._file(1 << position, rule)
        self._by_value = dict(self._by_value)
        self._by_needle = dict(self._by_needle)
        self._filed = frozenset(self._by_needle)

    def _file(self, bit: int, rule: Rule) -> None:
        """Sets the rule's bit (1 << its position) under what it is filed by."""
        for attr, _kind, allowed in rule.where.checks:
            if attr in INDEXED:
                for value in allowed:
                    self._by_value[(attr, value)] |= bit
                return
        gate = rule.gate if rule.gate is not None else rule.ascii_gate
        if gate is None:
            self._always |= bit
            return
        for needle in gate:
            self._by_needle[needle] |= bit
        if rule.gate is None:
            self._unless_ascii |= bit

    def candidates(self, f: Facts) -> list[Rule]:
        """The rules that may match `f`, in rule order (the set bits of a mask, lowest first)."""
        mask = self._always if f.ascii else self._always | self._unless_ascii
        by_value = self._by_value.get
        for attr in _SCALARS:
            mask |= by_value((attr, getattr(f, attr)), 0)
        for name in f.exception_types:
            mask |= by_value(("exception_types", name), 0)
        by_needle = self._by_needle.__getitem__
        for needle in f.needles & self._filed:  # many needles only serve patterns
            mask |= by_needle(needle)
        rules = self.rules
        found = []
        while mask:
            lowest = mask & -mask
            found.append(rules[lowest.bit_length() - 1])
            mask ^= lowest
        return found
