"""A rule's structured conditions (``where`` tables) and how they hold on `Facts`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from classifier.errors import RuleDefinitionError
from classifier.facts import Facts
from classifier.patterns import Pattern, compile_pattern

_STRING_KEYS: Final = ("surface", "exception_type", "validation_type", "node_type", "observation")
_BOOL_KEYS: Final = ("interrupted_by_us", "has_node_type", "model_input")
KEYS: Final = frozenset(
    (*_STRING_KEYS, *_BOOL_KEYS, "http_status", "node_type_matches", "value_kind")
)


@dataclass(frozen=True)
class Conditions:
    """All present conditions must hold (each list is any-of)."""

    surface: frozenset[str] | None = None
    exception_type: frozenset[str] | None = None
    validation_type: frozenset[str] | None = None
    node_type: frozenset[str] | None = None
    observation: frozenset[str] | None = None
    http_status: frozenset[int] | None = None
    node_type_matches: Pattern | None = None
    value_kind: frozenset[str] | None = None
    interrupted_by_us: bool | None = None
    has_node_type: bool | None = None
    model_input: bool | None = None

    @property
    def empty(self) -> bool:
        """Whether no condition is set."""
        return not self.checks

    def hold(self, f: Facts) -> bool:
        """Whether every set condition holds on `f` (the most selective is tested first)."""
        for attr, kind, allowed in self.checks:
            value = getattr(f, attr)
            if kind is _IN:
                if value not in allowed:
                    return False
            elif kind is _OVERLAP:
                if allowed.isdisjoint(value):
                    return False
            elif allowed.search(value) is None:
                return False
        return True

    @functools.cached_property
    def checks(self) -> tuple[tuple[str, str, Any], ...]:
        """(facts attribute, kind of test, allowed values) for each set condition."""
        found: list[tuple[str, str, Any]] = []
        for name in _ORDER:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                found.append((name, _IN, frozenset((value,))))
            elif isinstance(value, Pattern):
                found.append(("node_type", _REGEX, value.regex))
            elif name == "exception_type":
                found.append(("exception_types", _OVERLAP, value))
            else:
                found.append((name, _IN, value))
        return tuple(found)


_IN: Final = "in"
_OVERLAP: Final = "overlap"
_REGEX: Final = "regex"
_ORDER: Final = (
    "observation",
    "validation_type",
    "interrupted_by_us",
    "http_status",
    "exception_type",
    "value_kind",
    "model_input",
    "node_type",
    "has_node_type",
    "node_type_matches",
    "surface",
)


def parse_conditions(
    raw: Any, where: str, sets: Mapping[str, tuple[str, ...]] | None = None
) -> Conditions | None:
    """Conditions from a ``where``-style table (None when absent).

    Raises:
        RuleDefinitionError: an unknown key or a value of the wrong type.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise RuleDefinitionError(f"{where} must be a table")
    unknown = set(raw) - KEYS
    if unknown:
        raise RuleDefinitionError(f"unknown {where} key(s): {', '.join(sorted(map(str, unknown)))}")
    sets = sets or {}
    values: dict[str, Any] = {
        key: _strings(raw[key], key, sets) for key in _STRING_KEYS if key in raw
    }
    values |= {key: _bool(raw[key], key) for key in _BOOL_KEYS if key in raw}
    if "value_kind" in raw:
        values["value_kind"] = _strings(raw["value_kind"], "value_kind", {})
    if "http_status" in raw:
        values["http_status"] = _statuses(raw["http_status"])
    if "node_type_matches" in raw:
        values["node_type_matches"] = compile_pattern(
            _string(raw["node_type_matches"], "node_type_matches")
        )
    return Conditions(**values)


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise RuleDefinitionError(f"{key} must be a non-empty string of at most 200 characters")
    return value


def _strings(value: Any, key: str, sets: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise RuleDefinitionError(f"{key} must not be empty")
    found: set[str] = set()
    for item in items:
        name = _string(item, key)
        if name.startswith("@"):
            if name[1:] not in sets:
                raise RuleDefinitionError(f"{key} names an unknown set {name!r}")
            found.update(sets[name[1:]])
        else:
            found.add(name)
    return frozenset(found)


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise RuleDefinitionError(f"{key} must be true or false")
    return value


def _statuses(value: Any) -> frozenset[int]:
    items = value if isinstance(value, list) else [value]
    statuses: set[int] = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            statuses.add(item)
        elif isinstance(item, str) and len(item) == 3 and item[0] in "12345" and item[1:] == "xx":
            base = int(item[0]) * 100
            statuses.update(range(base, base + 100))
        else:
            raise RuleDefinitionError(
                f"http_status {item!r}: use a code like 503 or a class like '5xx'"
            )
    if not statuses:
        raise RuleDefinitionError("http_status must not be empty")
    return frozenset(statuses)
