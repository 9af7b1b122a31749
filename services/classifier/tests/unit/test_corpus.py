"""The labeled corpus of real ComfyUI errors: accuracy, per-class accuracy, retry safety."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from classifier.engine import Classification, classify
from contracts.taxonomy import CLASS_INFO, FailureClass


def _corpus_path() -> Path:
    """The vendored corpus: services/classifier/corpus/errors.jsonl."""
    return Path(__file__).resolve().parents[2] / "corpus" / "errors.jsonl"


def _load() -> list[dict[str, Any]]:
    path = _corpus_path()
    if not path.is_file():
        pytest.fail(f"corpus missing: {path}")
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


CORPUS = _load()
VERDICTS: dict[str, Classification] = {entry["id"]: classify(entry) for entry in CORPUS}
_LEAKS = re.compile(
    r"[A-Za-z]:\\|/(?:home|usr|opt|var|tmp|workspace|media|app)/|https?://|Traceback|File \""
)


def _accuracy(entries: list[dict[str, Any]]) -> float:
    right = sum(VERDICTS[e["id"]].failure_class == e["label"] for e in entries)
    return right / len(entries)


def test_corpus_labels_are_taxonomy_classes() -> None:
    assert {e["label"] for e in CORPUS} <= set(FailureClass)


def test_overall_accuracy_is_at_least_98_percent() -> None:
    wrong = [
        (e["id"], e["label"], VERDICTS[e["id"]].failure_class.value)
        for e in CORPUS
        if VERDICTS[e["id"]].failure_class != e["label"]
    ]
    assert _accuracy(CORPUS) >= 0.98, wrong


@pytest.mark.parametrize(
    "label", sorted(k for k, n in Counter(e["label"] for e in CORPUS).items() if n >= 5)
)
def test_accuracy_within_every_class_with_five_entries_is_at_least_95_percent(label: str) -> None:
    entries = [e for e in CORPUS if e["label"] == label]
    assert _accuracy(entries) >= 0.95


@pytest.mark.parametrize("entry", [e for e in CORPUS if not e["retryable"]], ids=lambda e: e["id"])
def test_a_non_retryable_error_is_never_called_retryable(entry: dict[str, Any]) -> None:
    assert VERDICTS[entry["id"]].retryable is False


@pytest.mark.parametrize("entry", CORPUS, ids=lambda e: e["id"])
def test_verdict_is_consistent_with_the_taxonomy(entry: dict[str, Any]) -> None:
    verdict = VERDICTS[entry["id"]]
    info = CLASS_INFO[verdict.failure_class]
    assert verdict.error_code == info.error_code
    assert verdict.severity == info.severity
    assert verdict.user_message
    assert not _LEAKS.search(" ".join([verdict.user_message, *verdict.actionable_steps]))


def test_classifying_is_deterministic() -> None:
    for entry in CORPUS[:40]:
        assert classify(entry) == VERDICTS[entry["id"]]


def test_no_rule_contains_a_corpus_message_verbatim() -> None:
    """Short canonical phrases (an exception class, "Allocation on device") are evidence that
    TAXONOMY.md itself lists; a whole sentence copied from the corpus would be a special case."""
    rules_text = (Path(classify.__code__.co_filename).parent / "rules" / "default.toml").read_text()
    lowered = rules_text.lower()
    verbatim = [
        e["id"]
        for e in CORPUS
        for line in e["message"].lower().splitlines()
        if len(line.strip()) >= 30 and line.strip() in lowered
    ]
    assert verbatim == []
