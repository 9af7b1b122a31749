"""The classifier core: evidence in, one taxonomy class with features and a user message out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, cast

import msgspec

from classifier import features as feats
from classifier.evidence import Evidence, normalize
from classifier.facts import Facts, evidence_facts, node_facts
from classifier.messages import compose
from classifier.nodeerrors import NodeErrorView
from classifier.rules import TIER_MESSAGE, TIER_STRUCTURED, Rule, RuleSet, default_rules
from contracts.job import FailureEvidence
from contracts.taxonomy import CLASS_INFO, FailureClass, Retryability, Severity

UNKNOWN_RULE: Final = "unknown"
_ENCODER: Final = msgspec.json.Encoder(order="deterministic")
UNKNOWN_MESSAGE_CHARS: Final = 1000
_TIER_CONFIDENCE: Final = {TIER_STRUCTURED: 0.95, TIER_MESSAGE: 0.9}
_TRACEBACK_CONFIDENCE: Final = 0.75
_REJECTED_POST: Final = re.compile(
    r"/prompt\b[^\n]{0,60}\b400\b|\b400\b[^\n]{0,60}/prompt\b|\b400\b[^\n]{0,20}bad request",
    re.IGNORECASE,
)
REJECTED_PROMPT_STEPS: Final = (
    "ComfyUI refused the prompt (HTTP 400) and the reason was lost, so it is not sent again as is.",
    "Resubmit keeping the full response body of the rejected request: it names the node and input.",
)
_SEVERITY_RANK: Final = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.LOW: 3,
}
_RETRYABLE: Final = {cls: info.retryable for cls, info in CLASS_INFO.items()}
_CLASS_RANK: Final = {cls: _SEVERITY_RANK[info.severity] for cls, info in CLASS_INFO.items()}


class Classification(msgspec.Struct, frozen=True):
    """The verdict on one failure (the payload of `failure.classified`)."""

    failure_class: FailureClass
    error_code: str
    retryable: bool
    retryability: Retryability
    severity: Severity
    rule: str
    confidence: float
    features: dict[str, Any]
    user_message: str
    actionable_steps: list[str]


class _Verdict(msgspec.Struct, frozen=True):
    failure_class: FailureClass
    rule: Rule | None
    confidence: float
    node: NodeErrorView | None = None
    rejected_prompt: bool = False

    @property
    def retryable(self) -> bool:
        """TAXONOMY's retryable; an invalid parameter only when it can be clamped; an UNKNOWN
        never when ComfyUI rejected the prompt (a 400 is not cured by sending it again)."""
        if self.failure_class == FailureClass.INVALID_PARAMETERS:
            return self.node is not None and feats.clampable(self.node)
        if self.failure_class == FailureClass.UNKNOWN and self.rejected_prompt:
            return False
        return _RETRYABLE[self.failure_class]

    @property
    def rank(self) -> tuple[int, int, int]:
        """Sort key: the failure that decides (no automatic fix first, then severity)."""
        unknown = int(self.failure_class == FailureClass.UNKNOWN)
        severity = _CLASS_RANK[self.failure_class]
        return (unknown, int(self.retryable), severity)


def classify(
    evidence: FailureEvidence | Mapping[str, Any], rules: RuleSet | None = None
) -> Classification:
    """Classify one failure; pure, deterministic, and never raises on any input.

    The same evidence under the same rules gets the same verdict object back (memoised per rule
    set); callers must not mutate it.

    Args:
        evidence: a FailureEvidence, or a mapping with any of its keys (the corpus's flat keys).
        rules: the rules to apply (custom rules first); the packaged defaults when None.
    """
    ruleset = rules if rules is not None else default_rules()
    key = _memo_key(evidence)
    if key is not None:
        known = ruleset.verdicts.get(key)
        if known is not None:
            return cast(Classification, known)
    verdict = _classify(evidence, ruleset)
    if key is not None:
        ruleset.verdicts.put(key, verdict)
    return verdict


def _memo_key(evidence: FailureEvidence | Mapping[str, Any]) -> bytes | None:
    """The evidence as canonical JSON (identical failures, e.g. an OOM storm, share a verdict);
    None when it cannot be encoded (then it is simply classified)."""
    try:
        return _ENCODER.encode(evidence)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return None


def _classify(evidence: FailureEvidence | Mapping[str, Any], ruleset: RuleSet) -> Classification:
    ev = normalize(evidence)
    if ev.node_errors:
        vocabulary = ruleset.vocabulary
        verdicts = [_decide(node_facts(ev, n, vocabulary), ruleset, n) for n in ev.node_errors]
        verdict = min(verdicts, key=lambda v: v.rank)
    else:
        verdicts = []
        verdict = _decide(evidence_facts(ev, ruleset.vocabulary), ruleset, None)
    if verdict.failure_class == FailureClass.UNKNOWN and rejected_prompt(ev):
        verdict = msgspec.structs.replace(verdict, rejected_prompt=True)
    return _build(verdict, ev, verdicts)


def rejected_prompt(ev: Evidence) -> bool:
    """Whether the evidence shows ComfyUI refusing the prompt: HTTP 400, or a 400 on /prompt."""
    if ev.http_status == 400:
        return True
    return "400" in ev.message and _REJECTED_POST.search(ev.message) is not None


def _decide(facts: Facts, ruleset: RuleSet, node: NodeErrorView | None) -> _Verdict:
    if facts.scanned:
        return _decide_scanned(facts, ruleset, node)
    for rule in ruleset.index.candidates(facts):
        tier = rule.match(facts)
        if tier is not None:
            confidence = rule.confidence or _TIER_CONFIDENCE.get(tier, _TRACEBACK_CONFIDENCE)
            return _Verdict(rule.failure_class, rule, confidence, node)
    return _Verdict(FailureClass.UNKNOWN, None, 0.0, node)


def _decide_scanned(facts: Facts, ruleset: RuleSet, node: NodeErrorView | None) -> _Verdict:
    """`_decide` for scanned facts. When no rule tried ran a regex, the decision depends only on
    the structured facts and the keys the scan found (its `signature`): it is kept for them."""
    signature = (
        facts.surface,
        facts.exception_types,
        facts.validation_type,
        facts.http_status,
        facts.node_type,
        facts.observation,
        facts.interrupted_by_us,
        facts.value_kind,
        facts.model_input,
        facts.text_needles,
        facts.traceback_needles,
    )
    known = ruleset.decisions.get(signature)
    if known is not None:
        rule, confidence = known
        if rule is None:
            return _Verdict(FailureClass.UNKNOWN, None, 0.0, node)
        return _Verdict(rule.failure_class, rule, confidence, node)
    exact = True
    for rule in ruleset.scan_index.candidates(facts):
        exact = exact and (
            rule.exact
            or (rule.regex_needles is not None and rule.regex_needles.isdisjoint(facts.needles))
        )
        tier = rule.match(facts)
        if tier is not None:
            confidence = rule.confidence or _TIER_CONFIDENCE.get(tier, _TRACEBACK_CONFIDENCE)
            if exact:
                ruleset.decisions.put(signature, (rule, confidence))
            return _Verdict(rule.failure_class, rule, confidence, node)
    if exact:
        ruleset.decisions.put(signature, (None, 0.0))
    return _Verdict(FailureClass.UNKNOWN, None, 0.0, node)


def _build(verdict: _Verdict, ev: Evidence, verdicts: list[_Verdict]) -> Classification:
    cls = verdict.failure_class
    info = CLASS_INFO[cls]
    found = feats.extract(cls, ev, verdict.node)
    if verdicts:
        found["node_errors"] = [_short(v) for v in verdicts]
    if cls == FailureClass.UNKNOWN and ev.message:
        found["message"] = ev.message[:UNKNOWN_MESSAGE_CHARS]
    message, steps = compose(cls, found, verdict.rule.hint if verdict.rule else "")
    if verdict.rejected_prompt:
        found["rejected_prompt"] = True
        steps = list(REJECTED_PROMPT_STEPS)
    return Classification(  # by position: a Struct's keyword matching costs more than the rest
        cls,
        info.error_code,
        verdict.retryable,
        info.retryability,
        info.severity,
        verdict.rule.id if verdict.rule else UNKNOWN_RULE,
        round(verdict.confidence, 3),
        found,
        message,
        steps,
    )


def _short(verdict: _Verdict) -> dict[str, Any]:
    node = verdict.node
    short: dict[str, Any] = {"failure_class": verdict.failure_class.value}
    if node is not None:  # pragma: no branch (only per-node verdicts are shortened)
        pairs = (
            ("node_id", node.node_id),
            ("class_type", node.class_type),
            ("type", node.type),
            ("input_name", node.input_name),
        )
        short |= {key: value for key, value in pairs if value}
        if verdict.failure_class == FailureClass.INVALID_PARAMETERS:
            short["clampable"] = verdict.retryable
    return short
