"""The Hyperscan scan says what Python's `re` says: a pattern's key is found in a plain text
exactly when its regex matches there (a prefilter expression: at least then), and the scanned
decisions, memo included, are those of the regexes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier import scanner
from classifier.engine import _classify
from classifier.patterns import Pattern, compile_pattern
from classifier.rules import RuleSet, default_rules, load_rules

RULES = default_rules()
CORPUS = Path(__file__).resolve().parents[2] / "corpus"
PATTERNS = {
    p.key: p
    for rule in RULES.rules
    for name in ("message", "message_and", "text", "traceback", "unless")
    for p in getattr(rule, name).patterns
    if p.scan is not None
}


def _texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            message = json.loads(line)["message"]
            if scanner.plain(message):
                texts.append(message)
    return texts


TEXTS = _texts()


def _agrees(pattern: Pattern, text: str, found: frozenset[str]) -> bool:
    matched = pattern.regex.search(text) is not None
    if pattern.scan_flags & scanner.PREFILTER:
        return not matched or pattern.key in found
    return matched == (pattern.key in found)


def test_the_default_rules_are_scanned() -> None:
    """Nearly every default pattern runs in the scan, and the database compiles."""
    total = sum(
        len(getattr(rule, name).patterns)
        for rule in RULES.rules
        for name in ("message", "message_and", "text", "traceback", "unless")
    )
    scanned = sum(
        1
        for rule in RULES.rules
        for name in ("message", "message_and", "text", "traceback", "unless")
        for p in getattr(rule, name).patterns
        if p.scan is not None or p.non_ascii
    )
    assert scanned >= total - 3
    assert RULES.vocabulary.prepare()
    assert RULES.vocabulary.scanned("CUDA out of memory") is not None


def test_scan_agrees_with_re_on_the_corpus() -> None:
    """Every scanned default pattern on every plain corpus message (and its upper-case form)."""
    disagreements = []
    for text in TEXTS + [t.upper() for t in TEXTS]:
        found = RULES.vocabulary.scanned(text)
        assert found is not None
        disagreements += [
            (p.source, text) for p in PATTERNS.values() if not _agrees(p, text, found)
        ]
    assert disagreements == []


PIECES = st.sampled_from(RULES.vocabulary.needles) | st.sampled_from(
    [" ", "\n", "'", ":", "/", "\\", "_", "-", "0", "42", "500", "Error: ", "a", "\t", "\r\n"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=12).map("".join))
def test_scan_agrees_with_re_on_made_up_texts(text: str) -> None:
    """Texts assembled from the rules' own needles and separators."""
    if not scanner.plain(text):
        return
    found = RULES.vocabulary.scanned(text)
    assert found is not None
    assert [p.source for p in PATTERNS.values() if not _agrees(p, text, found)] == []


@pytest.mark.parametrize(
    ("source", "scanned"),
    [
        (r"out of memory", True),
        (r"abc\Z", True),
        (r"keyerror: 'prompt'(?!_)", True),
        (r"[/\\]input", True),
        (r"(?i)foo", False),
        (r"xa{,3}", False),
        (r"x[a\[:b]", False),
        (r"\x41", False),
        (r"\u00e9t\u00e9", False),
        ("\u017fomething", False),
    ],
)
def test_what_is_scanned(source: str, scanned: bool) -> None:
    """Syntax both engines read alike is scanned; the rest keeps its regex alone."""
    assert (compile_pattern(source).scan is not None) is scanned


def test_an_end_anchor_means_the_same() -> None:
    """Python's \\Z is the very end (Hyperscan's \\z); $ allows one final newline in both."""
    rules = load_rules(
        """
[[rules]]
id = "end"
class = "DISK_FULL"
message = ['no space\\Z']
[[rules]]
id = "dollar"
class = "GPU_OOM"
message = ['out of memory$']
""",
        "test",
    )
    for text in ("no space", "no space\n", "out of memory\n", "out of memory\n\n"):
        got = _classify({"surface": "log", "message": text}, rules).rule
        want = next((r.id for r in rules.rules if r.message.patterns[0].regex.search(text)), None)
        assert got == (want or "unknown"), text


def test_a_rule_set_hyperscan_refuses_is_decided_by_its_regexes() -> None:
    """A database that does not compile leaves the scanner unusable: nothing is scanned."""
    unusable = scanner.Scanner([[("k", "a{2,1}", scanner.BASE_FLAGS)]])
    assert unusable.scan("aa") is None
    assert not unusable.usable


def test_decisions_are_kept_by_signature_only_when_no_regex_ran() -> None:
    """Two texts with the same scan keys share a decision; a rule whose regex ran keeps none."""
    rules = RuleSet.of(default_rules().rules)
    first = _classify({"surface": "log", "message": "CUDA out of memory (job 1)"}, rules)
    second = _classify({"surface": "log", "message": "CUDA out of memory (job 2)"}, rules)
    assert first.failure_class == second.failure_class
    assert len(rules.decisions) == 1
    text = "KeyError: 'prompt' in trigger_on_prompt"
    assert re.search("keyerror: 'prompt'(?!_)", text, re.I)
    before = len(rules.decisions)
    verdict = _classify({"surface": "log", "message": text}, rules)
    assert verdict.rule != "unknown"
    assert len(rules.decisions) == before
