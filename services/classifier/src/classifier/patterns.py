"""Rule patterns: case-insensitive regexes vetted for a linear-time shape, with a prefilter."""

from __future__ import annotations

import functools
import re
import re._casefix as _casefix  # noqa: I001 - CPython's own parser; stable across 3.11.x
import re._constants as _c
import re._parser as _p
from dataclasses import dataclass
from typing import Any, Final

from classifier.errors import RuleDefinitionError

MAX_PATTERN_LEN: Final = 1000
MAX_WIDE_REPEAT: Final = 500
MAX_NEEDLE: Final = 40
PRESENT_CACHE: Final = 1024
_REPEATS: Final = (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT)
_NARROW_CATEGORIES: Final = (_c.CATEGORY_DIGIT, _c.CATEGORY_SPACE)
_FOLD_FIXES: Final = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})
_SPECIAL_CASES: Final = frozenset(
    [*_casefix._EXTRA_CASES, *(c for cs in _casefix._EXTRA_CASES.values() for c in cs), 0x130]
)


def fold(text: str) -> str:
    """Lower-case `text` so that every ASCII literal an IGNORECASE regex matches is in it."""
    if text.isascii() or not any(c in text for c in "\u0130\u0131\u017f"):
        return text.lower()
    return text.translate(_FOLD_FIXES).lower()


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern; one of its `needles` must be in the folded text for it to match."""

    source: str
    regex: re.Pattern[str]
    needles: frozenset[str]

    def search(self, text: str, present: frozenset[str]) -> bool:
        """Whether the pattern occurs in `text`; `present` are the needles found in it."""
        if self.needles and present.isdisjoint(self.needles):
            return False
        return self.regex.search(text) is not None


@dataclass(frozen=True, slots=True)
class PatternGroup:
    """Any-of patterns; `needles` (None when some pattern has none) rejects a text at once."""

    patterns: tuple[Pattern, ...] = ()
    needles: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def search(self, text: str, present: frozenset[str]) -> bool:
        """Whether any pattern occurs in `text`."""
        if not text or (self.needles is not None and present.isdisjoint(self.needles)):
            return False
        return any(p.search(text, present) for p in self.patterns)


def group(patterns: tuple[Pattern, ...]) -> PatternGroup:
    """A group of `patterns` with its combined prefilter."""
    if patterns and all(p.needles for p in patterns):
        return PatternGroup(patterns, frozenset().union(*(p.needles for p in patterns)))
    return PatternGroup(patterns, None)


class Vocabulary:
    """Every needle of a rule set, found in a text in one pass of a trie-shaped regex.

    Results are cached by text: the same error text (an OOM storm, a backend outage) is
    scanned once.
    """

    __slots__ = ("_prefixes", "_regex", "needles", "present")

    def __init__(self, needles: frozenset[str] | set[str] = frozenset()) -> None:
        self.needles = tuple(sorted(needles))
        self._regex = re.compile(f"(?=({_trie(self.needles)}))") if self.needles else None
        self._prefixes = {
            n: frozenset(n[:i] for i in range(1, len(n) + 1) if n[:i] in needles)
            for n in self.needles
        }
        self.present = functools.lru_cache(maxsize=PRESENT_CACHE)(self._scan)

    def _scan(self, folded: str) -> frozenset[str]:
        """The needles in `folded`: at each position the trie yields the longest one starting
        there, and its prefixes that are needles come with it."""
        if self._regex is None or not folded:
            return frozenset()
        found: set[str] = set()
        for longest in set(self._regex.findall(folded)):
            found.update(self._prefixes[longest])
        return frozenset(found)


def _trie(needles: tuple[str, ...]) -> str:
    root: dict[str, Any] = {}
    for needle in needles:
        node = root
        for char in needle:
            node = node.setdefault(char, {})
        node[""] = {}
    return _emit(root)


def _emit(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _emit(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body


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
        parsed = _p.parse(source, flags)
        regex = re.compile(source, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise RuleDefinitionError(f"invalid pattern {source!r}: {exc}") from exc
    items = list(parsed)
    _vet(items, source)
    return Pattern(source, regex, frozenset(n.lower()[:MAX_NEEDLE] for n in _needles(items)))


def _vet(items: list[Any], source: str) -> None:
    if items and items[0][0] in _REPEATS and items[0][1][1] > 1:
        raise RuleDefinitionError(
            f"pattern {source!r} starts with a repeat; anchor it on a literal"
        )
    wide = _walk(items, source, inside_repeat=False)
    if wide > 1:
        raise RuleDefinitionError(
            f"pattern {source!r} has {wide} wide repeats (like [^x]{{0,80}}); one at most"
        )


def _walk(items: list[Any], source: str, *, inside_repeat: bool) -> int:
    """Reject backtracking hazards; return the number of wide repeats found."""
    wide = 0
    for op, av in items:
        if op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
            raise RuleDefinitionError(f"pattern {source!r} uses a back-reference")
        if op in _REPEATS:
            wide += _check_repeat(av, source, inside_repeat)
        elif op == _c.SUBPATTERN:
            wide += _walk(list(av[3]), source, inside_repeat=inside_repeat)
        elif op == _c.BRANCH:
            wide += max(_walk(list(b), source, inside_repeat=inside_repeat) for b in av[1])
        elif op in (_c.ASSERT, _c.ASSERT_NOT) and _has_repeat(list(av[1])):
            raise RuleDefinitionError(f"pattern {source!r} repeats inside a look-around")
    return wide


def _check_repeat(av: Any, source: str, inside_repeat: bool) -> int:
    high, body = av[1], list(av[2])
    if high <= 1:
        return _walk(body, source, inside_repeat=inside_repeat)
    if inside_repeat or _has_repeat(body):
        raise RuleDefinitionError(f"pattern {source!r} nests repeats")
    if _is_narrow(body):
        return 0
    if high == _c.MAXREPEAT or high > MAX_WIDE_REPEAT:
        raise RuleDefinitionError(
            f"pattern {source!r}: bound repeats of wide classes, e.g. [^\\n]{{0,{MAX_WIDE_REPEAT}}}"
        )
    return 1


def _has_repeat(items: list[Any]) -> bool:
    for op, av in items:
        if op in _REPEATS and av[1] > 1:
            return True
        if op == _c.SUBPATTERN and _has_repeat(list(av[3])):
            return True
        if op == _c.BRANCH and any(_has_repeat(list(b)) for b in av[1]):
            return True
    return False


def _is_narrow(body: list[Any]) -> bool:
    """A single literal, digit or space class: repeating it cannot backtrack far."""
    if len(body) != 1:
        return False
    op, av = body[0]
    if op == _c.LITERAL:
        return True
    if op != _c.IN:
        return False
    return all(
        (o == _c.CATEGORY and a in _NARROW_CATEGORIES) or (o == _c.LITERAL and not chr(a).isalpha())
        for o, a in av
    )


def _needles(items: list[Any]) -> tuple[str, ...]:
    """Literal strings of which at least one must occur wherever the pattern matches."""
    best: tuple[str, ...] = ()
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op == _c.LITERAL and _foldable(av):
            run.append(chr(av))
            continue
        best = _better(best, ("".join(run),) if len(run) >= 3 else ())
        run = []
        if op == _c.BRANCH:
            alternatives = [_needles(list(b)) for b in av[1]]
            if all(alternatives):
                best = _better(best, tuple(n for alt in alternatives for n in alt))
        elif op == _c.SUBPATTERN:
            best = _better(best, _needles(list(av[3])))
    return best


def _foldable(code: int) -> bool:
    """A literal `fold` keeps findable: ASCII, or without IGNORECASE's special equivalents."""
    return code < 128 or (code not in _SPECIAL_CASES and len(chr(code).lower()) == 1)


def _better(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    if not b:
        return a
    if not a:
        return b
    return b if min(map(len, b)) > min(map(len, a)) else a
