"""The prefilters only skip work: the decision equals trying every rule, in order, by its regexes.

Needles (Aho-Corasick), rule gates (strict, and for ASCII facts), the rule index and the
patterns that need a non-ASCII character are all shortcuts; here every default rule is also
evaluated without any of them and the first match must be the same rule at the same tier.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier import features
from classifier.engine import _decide
from classifier.evidence import _inferred_type, normalize
from classifier.facts import Facts, evidence_facts
from classifier.patterns import PatternGroup
from classifier.rules import Rule, RuleSet, default_rules
from contracts.taxonomy import FailureClass

RULES = default_rules()
GROUPS = ("message", "message_and", "text", "traceback", "unless")


def _unfiltered(rule: Rule) -> Rule:
    """The rule with no gate and every pattern searched on every text."""
    groups: dict[str, Any] = {}
    for name in GROUPS:
        patterns = getattr(rule, name).patterns
        groups[name] = PatternGroup(patterns, None, {}, patterns, ())
    return dataclasses.replace(rule, gate=None, ascii_gate=None, **groups)


PLAIN = tuple(_unfiltered(rule) for rule in RULES.rules)


def _reference(facts: Facts) -> tuple[str, int | None]:
    for rule in PLAIN:
        tier = rule.match(facts)
        if tier is not None:
            return rule.id, tier
    return "unknown", None


def _decided(facts: Facts, rules: RuleSet) -> tuple[str, int | None]:
    verdict = _decide(facts, rules, None)
    if verdict.rule is None:
        return "unknown", None
    return verdict.rule.id, verdict.rule.match(facts)


FRAGMENTS = st.sampled_from(RULES.vocabulary.needles) | st.sampled_from(
    [
        *("файл подкачки", "нет места на устройстве", "отказано в доступе", "拒绝访问", "é"),
        *("\u0131", "\u0130", "\u212a", "\u017f", " error 1455", "[errno 28]", "Error: ", "\n"),
        *("OutOfMemoryError", "CUDA out of memory", "401", "model", "not found", "' not in ["),
    ]
)
TEXT = st.lists(FRAGMENTS | st.text(max_size=8), max_size=6).map("".join)
SURFACE = st.sampled_from(["log", "execution_error", "http", "validation", ""])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SURFACE, TEXT, TEXT, st.sampled_from(["", "RuntimeError", "OSError"]))
def test_the_prefilters_never_change_the_rule_that_matches(
    surface: str, message: str, frame: str, exception_type: str
) -> None:
    raw = {"surface": surface, "message": message, "traceback": [frame] if frame else None}
    if exception_type:
        raw["exception_type"] = exception_type
    facts = evidence_facts(normalize(raw), RULES.vocabulary)
    assert _decided(facts, RULES) == _reference(facts)


def test_rules_that_only_non_ascii_patterns_keep_ungated_have_an_ascii_gate() -> None:
    gated_for_ascii_only = [r.id for r in RULES.rules if r.gate is None and r.ascii_gate]
    assert "disk_full.text" in gated_for_ascii_only


_OLD_INFERRED = re.compile(
    r"^[ \t>]{0,20}((?:[A-Za-z_][A-Za-z0-9_]{0,80}\.){0,8}[A-Za-z_][A-Za-z0-9_]{0,80}"
    r"(?:Error|Exception|Interrupt|Exit))(?::|\s*$)",
    re.MULTILINE,
)
LINES = st.lists(
    st.sampled_from(
        ["ValueError: x", "  > torch.OutOfMemoryError", "KeyboardInterrupt", "SystemExit  ", "\r"]
    )
    | st.sampled_from(["a.b.CError:", "Error", "x Error: y", "OSErrorz", "", " \t", ":", "\n"])
    | st.text(st.sampled_from(list("aE:.rox \t\r>_1")), max_size=12),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(LINES.map("\n".join))
def test_the_inferred_type_is_the_last_line_type_the_multiline_regex_finds(message: str) -> None:
    matches = [m.group(1) for m in _OLD_INFERRED.finditer(message)]
    assert _inferred_type(message) == (matches[-1] if matches else "")


def _old_device(text: str, cls: FailureClass) -> str:
    if cls == FailureClass.HOST_OOM or (features._CPU.search(text) and "gpu" not in text.lower()):
        return "CPU"
    if features._MPS.search(text):
        return "MPS"
    match = features._GPU_INDEX.search(text)
    return f"GPU {int(match.group(1))}" if match else ""


DEVICE_WORDS = st.sampled_from(
    ["cpu", "CPU", "C\u0420U", "for an array", "DefaultCPUAllocator", "mps", "MP\u017f", "metal"]
    + ["GPU 1", "gpu", "device 0", "DEVİCE 3", "cuda:1", "CUDA 12", "  ", "\n", "x", "7"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(DEVICE_WORDS, max_size=6).map(" ".join), st.sampled_from(list(FailureClass)))
def test_the_device_gates_never_change_the_device_found(text: str, cls: FailureClass) -> None:
    assert features._device(text, cls) == _old_device(text, cls)
