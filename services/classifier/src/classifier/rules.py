"""Classification rules as data: load a TOML document, validate and compile; bad rules are skipped.

A document has optional ``[sets]`` (named pattern lists, referenced as ``"@name"``) and
``[[rules]]``. Rule keys: ``id``, ``class``, ``priority`` (higher first), ``confidence``,
``where`` / ``where_not`` (structured conditions), ``message`` (the message and body),
``message_and`` (a second pattern list that must also match message or traceback), ``text``
(message or traceback), ``traceback``, ``unless`` (patterns that veto), ``case_sensitive``,
``hint`` (an extra actionable step) and ``note``. Every list is any-of; all keys must hold.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from classifier import rule_fields as fields
from classifier.conditions import Conditions, parse_conditions
from classifier.errors import RuleDefinitionError
from classifier.facts import Facts
from classifier.gates import gate, scanning
from classifier.memo import Memo
from classifier.patterns import (
    Pattern,
    PatternGroup,
    Vocabulary,
    scan_entries,
)
from classifier.ruleindex import RuleIndex
from contracts.taxonomy import FailureClass

DEFAULT_SOURCE: Final = "default"
_RULE_KEYS: Final = frozenset(
    ("id", "class", "priority", "confidence", "where", "where_not", "message", "message_and")
    + ("text", "traceback", "unless", "case_sensitive", "hint", "note")
)
_PATTERN_KEYS: Final = ("message", "message_and", "text", "traceback", "unless")
TIER_STRUCTURED: Final = 0
TIER_MESSAGE: Final = 1
TIER_TRACEBACK: Final = 2
MAX_RULES_PER_DOCUMENT: Final = 2000
VERDICT_MEMO: Final = 4096
DECISION_MEMO: Final = 4096


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule."""

    id: str
    failure_class: FailureClass
    priority: int
    confidence: float | None
    where: Conditions
    where_not: Conditions | None
    message: PatternGroup
    message_and: PatternGroup
    text: PatternGroup
    traceback: PatternGroup
    unless: PatternGroup
    hint: str
    source: str
    order: int
    gate: frozenset[str] | None = None
    ascii_gate: frozenset[str] | None = None
    """The gate for ASCII facts: patterns needing a non-ASCII character cannot match there."""
    textual: bool = True
    """Whether the rule has any pattern (else its structured conditions decide alone)."""
    exact: bool = False
    """For a `scanning` view: every pattern is decided by the scan (no regex runs)."""
    regex_needles: frozenset[str] | None = None
    """For a `scanning` view: the needles of its patterns whose regex may run (None: some may
    run whatever the needles); when none is present, the scan alone decided the rule."""
    scanning: Rule | None = None
    """The same rule for facts whose texts were scanned (`Facts.scanned`): its patterns decided
    by the keys the scan found (`patterns.scan_view`), its gate made of those keys."""

    @property
    def evidence_tier(self) -> int:
        """The weakest evidence the rule needs: structured, message, or traceback."""
        if self.traceback:
            return TIER_TRACEBACK
        return TIER_MESSAGE if self.message or self.text or self.message_and else TIER_STRUCTURED

    def match(self, f: Facts) -> int | None:
        """The evidence tier the rule matched on, or None."""
        gate = self.ascii_gate if f.ascii else self.gate
        if gate is not None and gate.isdisjoint(f.needles):
            return None
        if not self.where.hold(f) or (self.where_not is not None and self.where_not.hold(f)):
            return None
        if not self.textual:
            return TIER_STRUCTURED
        return self._match_text(f)

    def _match_text(self, f: Facts) -> int | None:
        tier = TIER_STRUCTURED
        if self.message.patterns:
            if not self.message.search(f.text, f.text_needles):
                return None
            tier = TIER_MESSAGE
        if self.text.patterns:
            tier = _text_tier(self.text, f, tier)
            if tier < 0:
                return None
        if self.message_and.patterns and _text_tier(self.message_and, f, 0) < 0:
            return None
        if self.traceback.patterns:
            if not self.traceback.search(f.traceback, f.traceback_needles):
                return None
            tier = max(tier, TIER_TRACEBACK)
        if self.unless.patterns and _text_tier(self.unless, f, 0) >= 0:
            return None
        return tier


def _text_tier(patterns: PatternGroup, f: Facts, tier: int) -> int:
    if patterns.search(f.text, f.text_needles):
        return max(tier, TIER_MESSAGE)
    if patterns.search(f.traceback, f.traceback_needles):
        return TIER_TRACEBACK
    return -1


@dataclass(frozen=True, slots=True)
class RuleError:
    """A rule (or document) that was rejected, with where and why."""

    source: str
    rule_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Ordered rules (first match wins), the errors met loading them, and their needles."""

    rules: tuple[Rule, ...] = ()
    errors: tuple[RuleError, ...] = ()
    sets: Mapping[str, tuple[str, ...]] | None = None
    vocabulary: Vocabulary = Vocabulary()
    index: RuleIndex = RuleIndex(())
    scan_index: RuleIndex = RuleIndex(())
    """The index of the rules' `scanning` views, for scanned facts."""
    verdicts: Memo[bytes, Any] = field(
        default_factory=lambda: Memo(VERDICT_MEMO), compare=False, repr=False
    )
    """Verdicts already given under these rules, by the evidence's JSON (see engine.classify)."""
    decisions: Memo[tuple[Any, ...], tuple[Rule | None, float]] = field(
        default_factory=lambda: Memo(DECISION_MEMO, lru=False), compare=False, repr=False
    )
    """Rule decisions on scanned facts by their signature (see engine._decide_scanned)."""

    @classmethod
    def of(
        cls,
        rules: tuple[Rule, ...],
        errors: tuple[RuleError, ...] = (),
        sets: Mapping[str, tuple[str, ...]] | None = None,
    ) -> RuleSet:
        """A rule set with its vocabulary: every needle any of its patterns can use."""
        needles = {needle for rule in rules for p in _patterns_of(rule) for needle in p.vocabulary}
        by_source: dict[str, list[Pattern]] = {}
        for rule in rules:
            by_source.setdefault(rule.source, []).extend(_patterns_of(rule))
        scans = [scan_entries(patterns) for patterns in by_source.values()]
        views = RuleIndex(tuple(rule.scanning or rule for rule in rules))
        return cls(rules, errors, sets, Vocabulary(needles, scans), RuleIndex(rules), views)

    def before(self, other: RuleSet) -> RuleSet:
        """This set's rules first, then `other`'s (custom rules go before the defaults)."""
        return RuleSet.of(self.rules + other.rules, self.errors + other.errors, other.sets)


def _patterns_of(rule: Rule) -> list[Pattern]:
    groups = (rule.message, rule.message_and, rule.text, rule.traceback, rule.unless)
    return [pattern for grp in groups for pattern in grp.patterns]


def load_rules(
    document: str, source: str, base_sets: Mapping[str, tuple[str, ...]] | None = None
) -> RuleSet:
    """Parse a TOML (or JSON) rules document; every broken rule becomes a `RuleError`."""
    try:
        raw = _parse(document)
        unknown = set(raw) - {"version", "sets", "rules"}
        if unknown:
            raise RuleDefinitionError(f"unknown top-level key(s): {', '.join(sorted(unknown))}")
        sets = {**(base_sets or {}), **_sets(raw.get("sets", {}))}
        entries = raw.get("rules", [])
        if not isinstance(entries, list) or len(entries) > MAX_RULES_PER_DOCUMENT:
            raise RuleDefinitionError(f"'rules' must be a list of at most {MAX_RULES_PER_DOCUMENT}")
    except RuleDefinitionError as exc:
        return RuleSet.of((), (RuleError(source, "", str(exc)),), base_sets)
    rules, errors = _compile_all(entries, sets, source)
    ordered = sorted(rules, key=lambda r: (-r.priority, r.evidence_tier, r.order))
    return RuleSet.of(tuple(ordered), tuple(errors), sets)


def _parse(document: str) -> dict[str, Any]:
    try:
        if document.lstrip().startswith("{"):
            parsed = json.loads(document)
        else:
            parsed = tomllib.loads(document)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise RuleDefinitionError(f"not a valid rules document: {exc}") from exc
    if not isinstance(parsed, dict):
        raise RuleDefinitionError("a rules document must be a table")
    return parsed


def _sets(raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise RuleDefinitionError("'sets' must be a table of pattern lists")
    sets: dict[str, tuple[str, ...]] = {}
    for name, patterns in raw.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise RuleDefinitionError(f"set {name!r} must be a list of strings")
        sets[str(name)] = tuple(patterns)
    return sets


def _compile_all(
    entries: Sequence[Any], sets: Mapping[str, tuple[str, ...]], source: str
) -> tuple[list[Rule], list[RuleError]]:
    rules: list[Rule] = []
    errors: list[RuleError] = []
    seen: set[str] = set()
    for order, entry in enumerate(entries):
        rule_id = str(entry.get("id", f"#{order}")) if isinstance(entry, dict) else f"#{order}"
        try:
            if rule_id in seen:
                raise RuleDefinitionError("duplicate rule id")
            rules.append(compile_rule(entry, sets, source, order))
            seen.add(rule_id)
        except RuleDefinitionError as exc:
            errors.append(RuleError(source, rule_id[:100], str(exc)))
    return rules, errors


def compile_rule(
    raw: Any, sets: Mapping[str, tuple[str, ...]], source: str, order: int = 0
) -> Rule:
    """Validate and compile one rule table.

    Raises:
        RuleDefinitionError: the rule is malformed.
    """
    if not isinstance(raw, dict):
        raise RuleDefinitionError("a rule must be a table")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleDefinitionError(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    case_sensitive = fields.flag(raw.get("case_sensitive", False))
    patterns = {
        key: fields.patterns(raw.get(key), key, sets, case_sensitive) for key in _PATTERN_KEYS
    }
    rule = Rule(
        id=fields.rule_id(raw.get("id")),
        failure_class=fields.failure_class(raw.get("class")),
        priority=fields.priority(raw.get("priority", 0)),
        confidence=fields.confidence(raw.get("confidence")),
        where=parse_conditions(raw.get("where", {}), "where", sets) or Conditions(),
        where_not=parse_conditions(raw.get("where_not"), "where_not", sets),
        hint=fields.hint(raw.get("hint", "")),
        source=source,
        order=order,
        message=patterns["message"],
        message_and=patterns["message_and"],
        text=patterns["text"],
        traceback=patterns["traceback"],
        unless=patterns["unless"],
    )
    if rule.where.empty and not (rule.message or rule.text or rule.traceback):
        raise RuleDefinitionError("a rule needs at least one condition or pattern")
    textual = bool(rule.message or rule.text or rule.traceback or rule.message_and or rule.unless)
    rule = replace(rule, gate=gate(rule), ascii_gate=gate(rule, ascii=True), textual=textual)
    return replace(rule, scanning=scanning(rule))


@functools.cache
def default_rules() -> RuleSet:
    """The rules shipped with the package (``rules/default.toml``), loaded once."""
    document = (importlib.resources.files("classifier") / "rules" / "default.toml").read_text(
        encoding="utf-8"
    )
    return load_rules(document, DEFAULT_SOURCE)
