"""Pattern vetting and the literal prefilter: never a false negative, never a slow shape."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.errors import RuleDefinitionError
from classifier.patterns import Vocabulary, compile_pattern, fold, group
from classifier.rules import default_rules

DEFAULT_PATTERNS = sorted(
    {
        p.source
        for r in default_rules().rules
        for g in (r.message, r.message_and, r.text, r.traceback, r.unless)
        for p in g.patterns
    }
)
ALPHABET = st.sampled_from(list("abcdeiklmnorstuy AEIKORST:_.'()[]-0123\nİıſKé错"))


@pytest.mark.parametrize(
    "source",
    [
        *("(a|aa)*b", "x(a*)*", "x(?:a+){2,9}", "x(?=.*y)", "(?P<g>a)(?P=g)", "x[^y]*z"),
        *("(a)x\\1", "(a)?(?(1)b|c)", "ab(?#comment)", "(?x)a b", "x(?:[^y]{0,9}z){2,3}"),
        *("x[^y]{0,9}z[^y]{0,9}", "(" * 400 + "a" + ")" * 400, "a{0,9}{2}"),
    ],
)
def test_patterns_that_can_backtrack_badly_are_rejected(source: str) -> None:
    with pytest.raises(RuleDefinitionError, match="pattern"):
        compile_pattern(source)


def test_every_default_pattern_passes_the_vetting() -> None:
    for source in DEFAULT_PATTERNS:
        compile_pattern(source)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DEFAULT_PATTERNS), st.text(ALPHABET, max_size=80))
def test_the_prefilter_never_hides_a_match(source: str, text: str) -> None:
    pattern = compile_pattern(source)
    present = Vocabulary(set(pattern.vocabulary)).present(fold(text))
    assert pattern.search(text, present) == (pattern.regex.search(text) is not None)


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.text(ALPHABET, min_size=1, max_size=6), max_size=30), st.text(ALPHABET, max_size=120)
)
def test_the_vocabulary_finds_exactly_the_needles_present(needles: set[str], text: str) -> None:
    assert Vocabulary(needles).present(text) == {n for n in needles if n in text}


@pytest.mark.parametrize("source", ["(?:cuda|hip) out of memory", "\\bxid \\d+\\b", "killed"])
def test_matching_ignores_case_including_special_unicode_folds(source: str) -> None:
    pattern = compile_pattern(source)
    for text in ("CUDA OUT OF MEMORY", "Xid 79", "KİLLED", "\u212aılled"):
        present = Vocabulary(set(pattern.vocabulary)).present(fold(text))
        assert pattern.search(text, present) == bool(re.search(source, text, re.IGNORECASE))


@pytest.mark.parametrize(
    ("source", "needles"),
    [
        ("out of memory", {"out of memory"}),
        ("(?:cuda|hip) out of memory", {" out of memory"}),
        ("errno 1[01]1", {"errno 1"}),
        ("abc?d|wxyz", set()),  # "ab" is too short to filter on
        ("(?:refused|reset) by peer", {" by peer"}),
        ("积极拒绝", {"积极拒绝"}),
        ("x\\d+ (?:alpha|be)", set()),
        ("error\\s*1455\\b", {"1455"}),  # a code over a word every error text holds
        ("keyerror: ?'prompt_id'", {"'prompt_id'"}),
    ],
)
def test_needles_are_literals_every_match_contains(source: str, needles: set[str]) -> None:
    assert compile_pattern(source).needles == frozenset(needles)


GROUP_SOURCES = [*DEFAULT_PATTERNS[:40], "x[0-9]{0,3}y", "(?:ab|cd)e"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(GROUP_SOURCES), min_size=1, max_size=6, unique=True),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(ALPHABET, max_size=30),
        st.sampled_from(["", "x12y", "abe", "CDE", "out of memory", "connection refused", "xy"]),
        st.text(ALPHABET, max_size=30),
    ),
)
def test_a_group_finds_a_match_exactly_when_one_of_its_patterns_does(
    sources: list[str], text: str
) -> None:
    patterns = tuple(compile_pattern(s) for s in sources)
    grp = group(patterns)
    present = Vocabulary(set().union(*(p.vocabulary for p in patterns))).present(fold(text))
    assert grp.search(text, present) == any(p.regex.search(text) for p in patterns)


@pytest.mark.parametrize(
    ("source", "non_ascii"),
    [
        ("файл подкачки", True),
        ("(?:нет|no) места", True),  # "места" is in every match
        ("(?:нет места|no space)", False),
        ("\u0131lled", False),  # dotless i matches "I" and "i" when case is ignored
        ("\u212aelvin", False),  # the Kelvin sign matches "k"
        ("x(?:é)?y", False),  # optional
        ("x(?:é){1,3}y", True),
        ("out of memory", False),
    ],
)
def test_patterns_that_need_a_non_ascii_character_are_known(source: str, non_ascii: bool) -> None:
    assert compile_pattern(source).non_ascii is non_ascii


NON_ASCII_SOURCES = ["файл подкачки", "(?:нет|no) места", "\u0131lled", "x(?:é){1,3}y", "Kelvin"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(NON_ASCII_SOURCES + GROUP_SOURCES[:5]), min_size=1, max_size=4),
    st.sampled_from(
        ["ФАЙЛ ПОДКАЧКИ мал", "No места", "KILLED", "kİlled", "xééy", "xey", "\u212aelvin", "k"]
    ),
)
def test_patterns_needing_non_ascii_are_still_found_exactly(sources: list[str], text: str) -> None:
    patterns = tuple(compile_pattern(s) for s in dict.fromkeys(sources))
    present = Vocabulary(set().union(*(p.vocabulary for p in patterns))).present(fold(text))
    assert group(patterns).search(text, present) == any(p.regex.search(text) for p in patterns)


@pytest.mark.parametrize(
    ("source", "required", "text"),
    [
        ("error\\s*1455\\b", {"error"}, "OSError 1455"),
        ("outputs? (?:is|are) empty", {" empty"}, "outputs are empty"),
        (
            "takes \\d+ positional arguments? but",
            {"takes ", " but"},
            "takes 2 positional argument but",
        ),
        ("(?:cuda|hip) out of memory", set(), "CUDA out of memory"),
        ("abc|wxyz", set(), "abc"),  # alternatives: each needs only its own
    ],
)
def test_every_literal_run_of_a_plain_sequence_is_required(
    source: str, required: set[str], text: str
) -> None:
    pattern = compile_pattern(source)
    assert pattern.required == frozenset(required)
    present = Vocabulary(set(pattern.vocabulary)).present(fold(text))
    assert pattern.search(text, present)
    assert pattern.search(text, present - pattern.required) is not bool(required)
