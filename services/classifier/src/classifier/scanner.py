"""Every rule pattern of a rule set run in one pass over a text, by a Hyperscan database.

Only ASCII texts are scanned (`plain`), and only patterns whose meaning Hyperscan shares with
Python's `re` on such a text (`expression`); for a pattern it cannot run, its literal needles are
scanned instead and its regex is tried as before. What a scan finds is a set of keys: a
pattern's `key` when that pattern matches, a needle when it occurs. Databases are compiled on
the first scan and kept per list of expressions (the default rules' once per process).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, Final

import hyperscan

from classifier.regexshape import Group, Look, Node, Repeat

KEY_PREFIX: Final = "\x00re:"
"""Starts every pattern key (a needle never holds a NUL)."""
NEVER: Final = "\x00never"
"""A key no scan reports: the needle of a pattern that cannot match an ASCII text."""
BASE_FLAGS: Final = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY
CASELESS: Final = hyperscan.HS_FLAG_CASELESS
PREFILTER: Final = hyperscan.HS_FLAG_PREFILTER
"""The expression only approximates the pattern (a superset, look-arounds dropped): a scan
that finds it says the regex must still be tried; one that does not, that it cannot match."""
_UTF8: Final = hyperscan.HS_FLAG_UTF8
_UNSHARED_ESCAPES: Final = frozenset("0123456789uUNxv")
"""Escapes Python and Hyperscan read differently (numeric, Unicode, ``\\v``)."""
_UNSHARED: Final = re.compile(r"\{,|\[[^\]\n]{0,300}\[[:.=]|\(\?[^:=!<]|\(\?<[^=!]")
"""Syntax read differently: ``{,n}``, POSIX classes, inline flags and named groups."""
_DATABASES: Final = 16


def expression(source: str, tree: Group, caseless: bool) -> tuple[str, int] | None:
    """The Hyperscan expression of a rule pattern and its flags, or None when it may not mean
    on an ASCII text what Python's `re` makes of it."""
    if _UNSHARED.search(source) or any(not _ascii_free(c) for c in source if not c.isascii()):
        return None
    out: list[str] = []
    chars = iter(source)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, "")
        if escaped in _UNSHARED_ESCAPES or not escaped:
            return None
        out.append("\\z" if escaped == "Z" else "\\" + escaped)
    flags = BASE_FLAGS | (CASELESS if caseless else 0) | (PREFILTER if _looks(tree) else 0)
    return "".join(out), flags | (0 if source.isascii() else _UTF8)


@functools.cache
def _ascii_free(char: str) -> bool:
    """Whether no ASCII character matches `char` even ignoring case (not ``ſ``, ``ı``, ``K``)."""
    literal = re.compile(re.escape(char), re.IGNORECASE)
    return not any(literal.fullmatch(chr(code)) for code in range(128))


def key(expr: str, flags: int) -> str:
    """The key a scan reports for a pattern (patterns with one expression and flags share it)."""
    return f"{KEY_PREFIX}{flags}:{expr}"


def plain(text: str) -> bool:
    """Whether `text` can be scanned: ASCII, without the separators \\x1c-\\x1f (Python's
    ``\\s`` matches them, Hyperscan's does not)."""
    return text.isascii() and not (  # four substring tests: faster here than a regex
        "\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text
    )


def literal(needle: str) -> str:
    """A needle as an expression matching it literally."""
    return "".join(c if c.isalnum() and c.isascii() else f"\\x{ord(c):02x}" for c in needle)


def _looks(node: Node) -> bool:
    if isinstance(node, Look):
        return True
    if isinstance(node, Repeat):
        return _looks(node.body)
    if isinstance(node, Group):
        return any(_looks(item) for branch in node.alternatives for item in branch)
    return False


class Scanner:
    """Scans a text with one database per part (e.g. per rule source), compiled when first used.

    `entries` holds, per part, (key, expression, flags) triples. Not thread-safe (one scratch
    space per database; the service classifies on one event loop).
    """

    __slots__ = ("_parts", "_ready")

    def __init__(self, entries: Sequence[Sequence[tuple[str, str, int]]]) -> None:
        self._parts = tuple(tuple(sorted(set(part))) for part in entries if part)
        self._ready: tuple[tuple[Any, Any, tuple[str, ...]], ...] | None = None

    @property
    def usable(self) -> bool:
        """Whether every database compiled (else nothing is scanned: the regexes decide)."""
        return self._databases() is not None

    def scan(self, text: str) -> frozenset[str] | None:
        """The keys found in a `plain` text; None when the scanner is not usable."""
        databases = self._ready if self._ready is not None else self._databases()
        if databases is None:
            return None
        data = text.encode("ascii")
        if len(databases) == 1:
            database, scratch, keys = databases[0]
            found: list[int] = []
            database.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
            return frozenset(map(keys.__getitem__, found))
        result: set[str] = set()
        for database, scratch, keys in databases:
            found = []
            database.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
            result.update(map(keys.__getitem__, found))
        return frozenset(result)

    def _databases(self) -> tuple[tuple[Any, Any, tuple[str, ...]], ...] | None:
        if self._ready is None:
            compiled = [_compile(part) for part in self._parts]
            if any(c is None for c in compiled):
                return None
            self._ready = tuple(c for c in compiled if c is not None)
        return self._ready


def _collect(pattern_id: int, _start: int, _end: int, _flags: int, found: list[int]) -> None:
    found.append(pattern_id)


@functools.lru_cache(maxsize=_DATABASES)
def _compile(
    part: tuple[tuple[str, str, int], ...],
) -> tuple[Any, Any, tuple[str, ...]] | None:
    """(database, scratch, key of each id) for one part; None when Hyperscan refuses it."""
    try:
        database = hyperscan.Database()
        database.compile(
            expressions=[expr.encode("utf-8") for _, expr, _ in part],
            ids=list(range(len(part))),
            elements=len(part),
            flags=[flags for _, _, flags in part],
        )
        return database, hyperscan.Scratch(database), tuple(k for k, _, _ in part)
    except hyperscan.error:
        return None
