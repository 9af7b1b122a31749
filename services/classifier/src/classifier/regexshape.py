"""The shape of a rule regex, read by our own small parser (no CPython-private module).

It accepts the subset of Python's regex syntax rules need (literals, escapes, classes, groups,
alternation, quantifiers, anchors, look-arounds, inline flags) and refuses everything else, so
what it cannot read is never run. The tree it returns is what the vetting and the literal
prefilter look at; `re.compile` still checks validity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from classifier.errors import RuleDefinitionError

UNBOUNDED: Final = -1
_CATEGORY_ESCAPES: Final = frozenset("dDsSwW")
_ANCHOR_ESCAPES: Final = frozenset("bBAZ")
_CHAR_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_HEX_ESCAPES: Final = {"x": 2, "u": 4, "U": 8}
_FLAG_LETTERS: Final = frozenset("aiLmsu-")  # no x: verbose mode changes what a space is


@dataclass(frozen=True, slots=True)
class Literal:
    """One literal character."""

    char: str


@dataclass(frozen=True, slots=True)
class CharClass:
    """`.`, a category escape or a bracketed class; `narrow` when only digits, spaces or
    non-letter literals (repeating it cannot backtrack far)."""

    narrow: bool


@dataclass(frozen=True, slots=True)
class Anchor:
    """A zero-width item: ``^``, ``$``, ``\\b``, an inline flag group."""


@dataclass(frozen=True, slots=True)
class Group:
    """A group: its alternatives (one sequence each)."""

    alternatives: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True, slots=True)
class Look:
    """A look-ahead or look-behind."""

    body: Group


@dataclass(frozen=True, slots=True)
class Repeat:
    """A quantified item (`high` is UNBOUNDED for ``*``, ``+``, ``{m,}``)."""

    low: int
    high: int
    body: Node


Node = Literal | CharClass | Anchor | Group | Look | Repeat


@dataclass(slots=True)
class _Reader:
    source: str
    pos: int = 0
    errors: list[str] = field(default_factory=list)

    def peek(self, n: int = 1) -> str:
        return self.source[self.pos : self.pos + n]

    def take(self, n: int = 1) -> str:
        text = self.peek(n)
        if len(text) < n:
            raise self.fail("ends too early")
        self.pos += n
        return text

    def fail(self, why: str) -> RuleDefinitionError:
        return RuleDefinitionError(f"pattern {self.source!r}: {why} (at {self.pos})")


def parse(source: str) -> Group:
    """The tree of `source`.

    Raises:
        RuleDefinitionError: a construct outside the supported subset (back-references,
            conditionals, comments) or a syntax error.
    """
    reader = _Reader(source)
    tree = _alternatives(reader)
    if reader.pos != len(source):
        raise reader.fail("unbalanced ')'")
    return tree


def _alternatives(r: _Reader) -> Group:
    branches = [_sequence(r)]
    while r.peek() == "|":
        r.take()
        branches.append(_sequence(r))
    return Group(tuple(branches))


def _sequence(r: _Reader) -> tuple[Node, ...]:
    items: list[Node] = []
    while r.peek() and r.peek() not in "|)":
        atom = _atom(r)
        items.append(_quantified(r, atom))
    return tuple(items)


def _quantified(r: _Reader, atom: Node) -> Node:
    bounds = _quantifier(r)
    if bounds is None:
        return atom
    if isinstance(atom, Anchor | Look):
        raise r.fail("quantifier on a zero-width item")
    if r.peek() in ("?", "+"):
        r.take()
    if _quantifier(r, probe=True) is not None:
        raise r.fail("multiple repeat")
    return Repeat(bounds[0], bounds[1], atom)


def _quantifier(r: _Reader, *, probe: bool = False) -> tuple[int, int] | None:
    char = r.peek()
    simple = {"?": (0, 1), "*": (0, UNBOUNDED), "+": (1, UNBOUNDED)}
    if char in simple:
        if not probe:
            r.take()
        return simple[char]
    if char != "{":
        return None
    end = r.source.find("}", r.pos)
    inside = r.source[r.pos + 1 : end] if end > 0 else ""
    low, comma, high = inside.partition(",")
    if not (low.isdigit() or (comma and not low)) or not (high.isdigit() or not high):
        return None  # Python reads such a brace as a literal
    if not probe:
        r.pos = end + 1
    lo = int(low) if low else 0
    hi = int(high) if high else (UNBOUNDED if comma else lo)
    return lo, hi


def _atom(r: _Reader) -> Node:
    char = r.take()
    if char == "(":
        return _group(r)
    if char == "[":
        return _char_class(r)
    if char == "\\":
        return _escape(r)
    if char == ".":
        return CharClass(narrow=False)
    if char in "^$":
        return Anchor()
    if char in "*+?":
        raise r.fail("nothing to repeat")
    return Literal(char)


def _group(r: _Reader) -> Node:
    look = False
    if r.peek() == "?":
        r.take()
        kind = r.peek()
        if kind == ":":
            r.take()
        elif kind == "P" and r.peek(2) == "P<":
            end = r.source.find(">", r.pos)
            if end < 0:
                raise r.fail("unterminated group name")
            r.pos = end + 1
        elif kind in "=!" or r.peek(2) in ("<=", "<!"):
            r.take(1 if kind in "=!" else 2)
            look = True
        elif kind and kind in _FLAG_LETTERS:
            return _flags(r)
        else:
            raise r.fail("unsupported group (back-reference, conditional or comment)")
    body = _alternatives(r)
    if r.peek() != ")":
        raise r.fail("missing ')'")
    r.take()
    return Look(body) if look else body


def _flags(r: _Reader) -> Node:
    while r.peek() and r.peek() in _FLAG_LETTERS:
        r.take()
    closing = r.take()
    if closing == ")":
        return Anchor()
    if closing != ":":
        raise r.fail("bad inline flags")
    body = _alternatives(r)
    if r.take() != ")":
        raise r.fail("missing ')'")
    return body


def _escape(r: _Reader) -> Node:
    char = r.take()
    if char in _CATEGORY_ESCAPES:
        return CharClass(narrow=char in "ds")
    if char in _ANCHOR_ESCAPES:
        return Anchor()
    return Literal(_escaped_char(r, char))


def _escaped_char(r: _Reader, char: str) -> str:
    """The character an escape (after the backslash) stands for, outside a category."""
    if char in _CHAR_ESCAPES:
        return _CHAR_ESCAPES[char]
    if char in _HEX_ESCAPES:
        digits = r.take(_HEX_ESCAPES[char])
        try:
            return chr(int(digits, 16))
        except ValueError as exc:
            raise r.fail("bad escape") from exc
    if char == "0":
        return "\0"
    if char.isdigit():
        raise r.fail("uses a back-reference")
    if char.isascii() and char.isalnum():
        raise r.fail(f"unsupported escape \\{char}")
    return char


def _char_class(r: _Reader) -> Node:
    narrow = True
    if r.peek() == "^":
        r.take()
        narrow = False
    first = True
    while first or r.peek() != "]":
        char = r.take()
        first = False
        if char == "\\":
            escaped = r.take()
            if escaped in _CATEGORY_ESCAPES:
                narrow = narrow and escaped in "ds"
                continue
            char = "\b" if escaped == "b" else _escaped_char(r, escaped)
        if r.peek() == "-" and r.peek(2) != "-]":
            r.take()
            end = r.take()
            if end == "\\":
                end = _escaped_char(r, r.take())
            narrow = False
            continue
        narrow = narrow and not char.isalpha()
    r.take()
    return CharClass(narrow=narrow)
