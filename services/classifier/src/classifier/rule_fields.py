"""Reading one field of a rule table: its value, or `RuleDefinitionError` saying what is
wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from classifier.errors import RuleDefinitionError
from classifier.patterns import PatternGroup, compile_pattern, group
from contracts.taxonomy import FailureClass


def rule_id(value: Any) -> str:
    """``id``: a string of 1 to 100 characters."""
    if not isinstance(value, str) or not 0 < len(value) <= 100:
        raise RuleDefinitionError("'id' must be a string of 1 to 100 characters")
    return value


def failure_class(value: Any) -> FailureClass:
    """``class``: a taxonomy class."""
    try:
        return FailureClass(value)
    except ValueError as exc:
        raise RuleDefinitionError(f"'class' {value!r} is not a taxonomy class") from exc


def priority(value: Any) -> int:
    """``priority``: an integer within ±100000 (higher first)."""
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 100_000:
        raise RuleDefinitionError("'priority' must be an integer within ±100000")
    return value


def confidence(value: Any) -> float | None:
    """``confidence``: a number in (0, 1], or unset."""
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise RuleDefinitionError("'confidence' must be a number in (0, 1]")
    return float(value)


def flag(value: Any) -> bool:
    """``case_sensitive``: true or false."""
    if not isinstance(value, bool):
        raise RuleDefinitionError("'case_sensitive' must be true or false")
    return value


def hint(value: Any) -> str:
    """``hint``: a string of at most 300 characters."""
    if not isinstance(value, str) or len(value) > 300:
        raise RuleDefinitionError("'hint' must be a string of at most 300 characters")
    return value


def patterns(
    value: Any, key: str, sets: Mapping[str, tuple[str, ...]], case_sensitive: bool
) -> PatternGroup:
    """``message``, ``text``, ``traceback``, …: a pattern or a non-empty list of them, each
    a regular expression or ``@set`` (every pattern of that set)."""
    if value is None:
        return PatternGroup()
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise RuleDefinitionError(f"'{key}' must be a pattern or a non-empty list of patterns")
    sources: list[str] = []
    for item in items:
        if item.startswith("@"):
            if item[1:] not in sets:
                raise RuleDefinitionError(f"'{key}' names an unknown set {item!r}")
            sources.extend(sets[item[1:]])
        else:
            sources.append(item)
    return group(tuple(compile_pattern(s, case_sensitive=case_sensitive) for s in sources))
