"""What a rule pattern's literals guarantee about a text it matches: needles for the prefilter.

Read from the tree of `regexshape.parse`. Every needle is lower-case and found by `patterns.fold`
in any text the pattern (case ignored) matches; which needles to keep is a matter of speed only.
"""

from __future__ import annotations

import functools
import re

from classifier.regexshape import Group, Literal, Node, Repeat


def needles(group: Group) -> tuple[str, ...]:
    """Literal strings of which at least one must occur wherever the pattern matches."""
    alternatives = [_sequence_needles(branch) for branch in group.alternatives]
    if all(alternatives):
        return tuple(n for alt in alternatives for n in alt)
    return ()


def runs(items: tuple[Node, ...]) -> tuple[str, ...]:
    """The runs of at least 3 literal characters in a sequence (each in every match)."""
    runs: list[str] = []
    run: list[str] = []
    for item in [*items, None]:
        if isinstance(item, Literal) and _foldable(item.char):
            run.append(item.char)
            continue
        if len(run) >= 3:
            runs.append("".join(run))
        run = []
    return tuple(runs)


def _sequence_needles(items: tuple[Node, ...]) -> tuple[str, ...]:
    best: tuple[str, ...] = ()
    run: list[str] = []
    for item in [*items, None]:
        if isinstance(item, Literal) and _foldable(item.char):
            run.append(item.char)
            continue
        best = _better(best, ("".join(run),) if len(run) >= 3 else ())
        run = []
        if isinstance(item, Group):
            best = _better(best, needles(item))
    return best


def _needs_non_ascii(items: tuple[Node, ...]) -> bool:
    """Whether every match of the sequence holds a non-ASCII character (a literal that no ASCII
    character matches, even ignoring case: not ``ſ``, ``ı`` or the Kelvin sign)."""
    for item in items:
        if isinstance(item, Literal) and not _matches_ascii(item.char):
            return True
        if isinstance(item, Group) and all_need_non_ascii(item):
            return True
        if isinstance(item, Repeat) and item.low >= 1 and _needs_non_ascii((item.body,)):
            return True
    return False


def all_need_non_ascii(node: Group) -> bool:
    """Whether every match of the group holds a non-ASCII character."""
    return bool(node.alternatives) and all(_needs_non_ascii(a) for a in node.alternatives)


@functools.cache
def _matches_ascii(char: str) -> bool:
    """Whether some ASCII character matches the literal `char`, case ignored."""
    if char.isascii():
        return True
    literal = re.compile(re.escape(char), re.IGNORECASE)
    return any(literal.fullmatch(chr(code)) for code in range(128))


def _foldable(char: str) -> bool:
    """A literal `fold` keeps findable: ASCII, or a character without case (CJK, digits)."""
    return char.isascii() or char.lower() == char.upper() == char


def _better(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """The more selective of two necessary needle sets: one whose every needle holds a digit or
    a sign (an error code, a file suffix, a quoted key) over plain words that most error texts
    share ("error", "exit", "missing"), then the longer shortest needle."""
    if not b:
        return a
    if not a:
        return b
    return b if _selectivity(b) > _selectivity(a) else a


def _selectivity(found: tuple[str, ...]) -> tuple[bool, int]:
    marked = all(any(not (c.isalpha() or c == " ") for c in n) for n in found)
    return marked, min(map(len, found))
