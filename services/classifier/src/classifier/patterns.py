"""Rule patterns: case-insensitive regexes vetted for a linear-time shape, with a prefilter."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import ahocorasick

from classifier import literals, scanner
from classifier.errors import RuleDefinitionError
from classifier.regexshape import UNBOUNDED, CharClass, Group, Literal, Look, Node, Repeat, parse

MAX_PATTERN_LEN: Final = 1000
MAX_WIDE_REPEAT: Final = 500
MAX_NEEDLE: Final = 40
PRESENT_CACHE: Final = 1024
_VALUE: Final = operator.itemgetter(1)
"""The needle of an automaton match (end index, needle)."""
_FOLD_FIXES: Final = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def fold(text: str) -> str:
    """Lower-case `text` so that every ASCII literal an IGNORECASE regex matches is in it."""
    if text.isascii() or not any(c in text for c in "\u0130\u0131\u017f"):
        return text.lower()
    return text.translate(_FOLD_FIXES).lower()


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern; one of its `needles` must be in the folded text for it to match;
    `non_ascii` when it can only match a text with a non-ASCII character; every one of
    `required` (the literal runs of a pattern without top-level alternatives) must be there too.
    `scan` is its Hyperscan expression (None when it has none) and `key` what a scan reports
    when it matches; in a `scan_view` the key is its only needle and finding it is a `hit`."""

    source: str
    regex: re.Pattern[str]
    needles: frozenset[str]
    non_ascii: bool = False
    required: frozenset[str] = frozenset()
    scan: str | None = None
    scan_flags: int = 0
    key: str = ""
    hit: bool = False

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every needle the prefilter looks for."""
        return self.needles | self.required

    def search(self, text: str, present: frozenset[str]) -> bool:
        """Whether the pattern occurs in `text`; `present` are the needles found in it."""
        if self.needles and present.isdisjoint(self.needles):
            return False
        if self.hit:
            return True
        if self.required and not self.required <= present:
            return False
        return self.regex.search(text) is not None


@dataclass(frozen=True, slots=True)
class PatternGroup:
    """Any-of patterns; `needles` (None when some pattern has none) rejects a text at once, and
    only the patterns whose needles are present (or that have none) are searched; those without
    needles that need a non-ASCII character (`non_ascii`) only in a text that has one."""

    patterns: tuple[Pattern, ...] = ()
    needles: frozenset[str] | None = None
    by_needle: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)
    always: tuple[Pattern, ...] = ()
    non_ascii: tuple[Pattern, ...] = ()
    ascii_needles: frozenset[str] | None = None
    """Like `needles`, for an ASCII text (patterns that need a non-ASCII character left out)."""

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def search(self, text: str, present: frozenset[str]) -> bool:
        """Whether any pattern occurs in `text`; `present` are the needles found in it."""
        if not text or (self.needles is not None and present.isdisjoint(self.needles)):
            return False
        for pattern in self.always:
            if pattern.regex.search(text):
                return True
        if self.non_ascii and not text.isascii():
            for pattern in self.non_ascii:
                if pattern.regex.search(text):
                    return True
        by_needle = self.by_needle
        seen: set[int] = set()
        for needle in present:  # a few needles per text, many per group: look each one up
            for pattern in by_needle.get(needle, ()):
                if pattern.hit:
                    return True
                if id(pattern) not in seen:
                    seen.add(id(pattern))
                    if pattern.required and not pattern.required <= present:
                        continue
                    if pattern.regex.search(text):
                        return True
        return False


def group(patterns: tuple[Pattern, ...]) -> PatternGroup:
    """A group of `patterns` with its combined prefilter and its needle index."""
    needles = None
    if patterns and all(p.needles for p in patterns):
        needles = frozenset().union(*(p.needles for p in patterns))
    by_needle: dict[str, list[Pattern]] = {}
    for pattern in patterns:
        for needle in pattern.needles:
            by_needle.setdefault(needle, []).append(pattern)
    always = tuple(p for p in patterns if not p.needles and not p.non_ascii)
    non_ascii = tuple(p for p in patterns if not p.needles and p.non_ascii)
    ascii_needles = needles
    if patterns and not always:
        ascii_needles = frozenset().union(*(p.needles for p in patterns))
    by_needle_tuples = {k: tuple(v) for k, v in by_needle.items()}
    return PatternGroup(patterns, needles, by_needle_tuples, always, non_ascii, ascii_needles)


def scan_view(pattern: Pattern) -> Pattern:
    """The pattern as a scanned text's keys decide it: its key found is a match (a pattern
    Hyperscan cannot run is kept as it is: its needles are scanned, its regex tried)."""
    if pattern.non_ascii:
        return Pattern(pattern.source, pattern.regex, frozenset((scanner.NEVER,)), hit=True)
    if pattern.scan is None:
        return pattern
    hit = not pattern.scan_flags & scanner.PREFILTER
    return Pattern(
        pattern.source, pattern.regex, frozenset((pattern.key,)), key=pattern.key, hit=hit
    )


def scan_entries(patterns: Iterable[Pattern]) -> list[tuple[str, str, int]]:
    """What a scanner looks for to decide `patterns` on a plain text: each pattern's expression,
    or the ASCII needles of a pattern that has none (one needing a non-ASCII character cannot
    match there)."""
    entries: list[tuple[str, str, int]] = []
    for pattern in patterns:
        if pattern.non_ascii:
            continue
        if pattern.scan is not None:
            entries.append((pattern.key, pattern.scan, pattern.scan_flags))
        else:
            needles = (n for n in pattern.vocabulary if n.isascii())
            flags = scanner.BASE_FLAGS | scanner.CASELESS
            entries.extend((n, scanner.literal(n), flags) for n in needles)
    return entries


class Vocabulary:
    """Every needle of a rule set, found in a text in one pass of an Aho-Corasick automaton;
    for a plain ASCII text, `scanned` runs the rule set's patterns themselves (`scanner`).

    Results are cached by text: the same error text (an OOM storm, a backend outage) is
    scanned once.
    """

    __slots__ = ("_automaton", "_scanner", "needles", "present", "scanned")

    def __init__(
        self,
        needles: frozenset[str] | set[str] = frozenset(),
        scans: Sequence[Sequence[tuple[str, str, int]]] = (),
    ) -> None:
        self._scanner = scanner.Scanner(scans) if scans else None
        self.scanned = functools.lru_cache(maxsize=PRESENT_CACHE)(self._scanned)
        self.needles = tuple(sorted(needles))
        self._automaton: Any = None
        if self.needles:
            automaton = ahocorasick.Automaton()
            for needle in self.needles:
                automaton.add_word(needle, needle)
            automaton.make_automaton()
            self._automaton = automaton
        self.present = functools.lru_cache(maxsize=PRESENT_CACHE)(self._scan)

    def _scan(self, folded: str) -> frozenset[str]:
        """The needles that occur in `folded` (overlapping occurrences included)."""
        if self._automaton is None or not folded:
            return frozenset()
        return frozenset(map(_VALUE, self._automaton.iter(folded)))

    def prepare(self) -> bool:
        """Compile the scan databases now (else the first classification does, ~1 s for the
        default rules); whether scanning is usable (else the regexes decide, more slowly)."""
        return self._scanner is not None and self._scanner.usable

    def _scanned(self, text: str) -> frozenset[str] | None:
        """The keys of the patterns that match a plain `text` and of the needles in it; None
        when there is no usable scanner (then `present` and the regexes decide)."""
        return None if self._scanner is None else self._scanner.scan(text)


def compile_pattern(source: str, *, case_sensitive: bool = False) -> Pattern:
    """Compile and vet one rule pattern.

    Raises:
        RuleDefinitionError: the pattern is invalid, too long, or could backtrack badly.
    """
    if not isinstance(source, str) or not source:
        raise RuleDefinitionError("a pattern must be a non-empty string")
    if len(source) > MAX_PATTERN_LEN:
        raise RuleDefinitionError(f"pattern longer than {MAX_PATTERN_LEN} characters")
    flags = 0 if case_sensitive else re.IGNORECASE
    try:
        regex = re.compile(source, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise RuleDefinitionError(f"invalid pattern {source!r}: {exc}") from exc
    try:
        tree = parse(source)
    except RecursionError as exc:
        raise RuleDefinitionError(f"pattern {source!r} nests too deeply") from exc
    _vet(tree, source)
    needles = frozenset(n.lower()[:MAX_NEEDLE] for n in literals.needles(tree))
    runs = literals.runs(tree.alternatives[0]) if len(tree.alternatives) == 1 else ()
    required = frozenset(run.lower()[:MAX_NEEDLE] for run in runs) - needles
    non_ascii = literals.all_need_non_ascii(tree)
    scan = scanner.expression(source, tree, not case_sensitive)
    if scan is None:
        return Pattern(source, regex, needles, non_ascii, required)
    expr, flags = scan
    key = scanner.key(expr, flags)
    return Pattern(source, regex, needles, non_ascii, required, expr, flags, key)


def _vet(tree: Group, source: str) -> None:
    first = tree.alternatives[0][:1] if len(tree.alternatives) == 1 else ()
    if first and isinstance(first[0], Repeat) and _wide_high(first[0]):
        raise RuleDefinitionError(
            f"pattern {source!r} starts with a repeat; anchor it on a literal"
        )
    wide = _walk(tree, source, inside_repeat=False)
    if wide > 1:
        raise RuleDefinitionError(
            f"pattern {source!r} has {wide} wide repeats (like [^x]{{0,80}}); one at most"
        )


def _wide_high(node: Repeat) -> bool:
    return node.high == UNBOUNDED or node.high > 1


def _walk(node: Node, source: str, *, inside_repeat: bool) -> int:
    """Reject backtracking hazards; return the number of wide repeats found."""
    if isinstance(node, Repeat):
        return _check_repeat(node, source, inside_repeat)
    if isinstance(node, Group):
        return max(
            sum(_walk(item, source, inside_repeat=inside_repeat) for item in branch)
            for branch in node.alternatives
        )
    if isinstance(node, Look) and _has_repeat(node.body):
        raise RuleDefinitionError(f"pattern {source!r} repeats inside a look-around")
    return 0


def _check_repeat(node: Repeat, source: str, inside_repeat: bool) -> int:
    if not _wide_high(node):
        return _walk(node.body, source, inside_repeat=inside_repeat)
    if inside_repeat or _has_repeat(node.body):
        raise RuleDefinitionError(f"pattern {source!r} nests repeats")
    if _is_narrow(node.body):
        return 0
    if node.high == UNBOUNDED or node.high > MAX_WIDE_REPEAT:
        raise RuleDefinitionError(
            f"pattern {source!r}: bound repeats of wide classes, e.g. [^\\n]{{0,{MAX_WIDE_REPEAT}}}"
        )
    return 1


def _has_repeat(node: Node) -> bool:
    if isinstance(node, Repeat):
        return _wide_high(node) or _has_repeat(node.body)
    if isinstance(node, Group):
        return any(_has_repeat(item) for branch in node.alternatives for item in branch)
    if isinstance(node, Look):
        return _has_repeat(node.body)
    return False


def _is_narrow(body: Node) -> bool:
    """A single literal, digit or space class: repeating it cannot backtrack far."""
    while (
        isinstance(body, Group) and len(body.alternatives) == 1 and len(body.alternatives[0]) == 1
    ):
        body = body.alternatives[0][0]
    return isinstance(body, Literal) or (isinstance(body, CharClass) and body.narrow)
