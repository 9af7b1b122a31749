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


class RuleIndex:
    """Files each rule under a necessary condition: a structured value, or one of its needles.

    A rule gated only on ASCII facts (some pattern needs a non-ASCII character) is filed under
    that gate and is a candidate for all non-ASCII facts. A rule with neither is always one.
    `candidates` returns a superset of the rules that match, in order, so first-match
    semantics are kept while most rules are skipped.
    """

    __slots__ = ("_always", "_by_needle", "_by_value", "_unless_ascii", "rules")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._always: list[int] = []
        self._unless_ascii: list[int] = []
        self._by_value: dict[tuple[str, Any], list[int]] = defaultdict(list)
        self._by_needle: dict[str, list[int]] = defaultdict(list)
        for position, rule in enumerate(self.rules):
            self._file(position, rule)

    def _file(self, position: int, rule: Rule) -> None:
        for attr, _kind, allowed in rule.where.checks:
            if attr in INDEXED:
                for value in allowed:
                    self._by_value[(attr, value)].append(position)
                return
        gate = rule.gate if rule.gate is not None else rule.ascii_gate
        if gate is None:
            self._always.append(position)
            return
        for needle in gate:
            self._by_needle[needle].append(position)
        if rule.gate is None:
            self._unless_ascii.append(position)

    def candidates(self, f: Facts) -> list[Rule]:
        """The rules that may match `f`, in rule order."""
        found = set(self._always)
        if not f.ascii:
            found.update(self._unless_ascii)
        by_value, by_needle = self._by_value, self._by_needle
        for attr in INDEXED:
            value = getattr(f, attr)
            if attr == "exception_types":
                for name in value:
                    found.update(by_value.get((attr, name), ()))
            else:
                found.update(by_value.get((attr, value), ()))
        for needle in f.needles:
            found.update(by_needle.get(needle, ()))
        rules = self.rules
        return [rules[i] for i in sorted(found)]
