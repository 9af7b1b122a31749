"""The labeled corpora of real ComfyUI errors: accuracy, per-class accuracy, retry safety, UNKNOWN.

Four files (services/classifier/corpus/README.md): `errors.jsonl` (the first 135 entries the
rules were written from), `train.jsonl` and `heldout.jsonl` (a later set of 252, split by hash
before any rule was written from it; the held-out part was later partly looked at), and
`heldout2.jsonl` (64 fresh entries committed before the next rule change, no rule written from
its lines). The figures are printed (`pytest -s`) and asserted against floors; issue 13's
bar (97% overall and 95% per class with at least 5 entries, 0 non-retryable called retryable,
UNKNOWN at most 3%) is held on the fresh held-out set and on the whole corpus.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from classifier.engine import Classification, classify
from classifier.scoring import BARRED, Score, load_jsonl, merged, score
from contracts.taxonomy import CLASS_INFO, FailureClass

CORPUS_DIR = Path(__file__).resolve().parents[2] / "corpus"
FILES = {
    "original": "errors.jsonl",
    "train": "train.jsonl",
    "held-out": "heldout.jsonl",
    "held-out-2": "heldout2.jsonl",
}


def _load(name: str) -> list[dict[str, Any]]:
    path = CORPUS_DIR / FILES[name]
    if not path.is_file():
        pytest.fail(f"corpus missing: {path}")
    return load_jsonl(path)


SETS = {name: _load(name) for name in FILES}
CORPUS = [e for entries in SETS.values() for e in entries]
VERDICTS: dict[str, Classification] = {entry["id"]: classify(entry) for entry in CORPUS}
SCORES = {name: score(name, entries) for name, entries in SETS.items()}
SCORES["whole"] = score("whole", merged(*SETS.values()))
FLOORS = {
    # name: (overall, per class with >= 5 entries)
    "original": (1.0, 1.0),
    "train": (0.98, 0.95),
    "held-out": (0.96, 0.80),  # 97.8%; looked at (its misses too), so no longer the held-out bar
    "held-out-2": (0.97, 0.95),  # issue 13's bar; measured 85.9% before the rule work, 100% after
    "whole": (0.98, 0.95),  # 99.6%; BACKEND_UNREACHABLE 95.5%, EXTERNAL_SERVICE_ERROR 96.0%
}
_LEAKS = re.compile(
    r"[A-Za-z]:\\|/(?:home|usr|opt|var|tmp|workspace|media|app)/|https?://|Traceback|File \""
)


def _explain(s: Score) -> str:
    return "\n".join([*s.lines(), *(f"  miss {m}" for m in s.misses)])


def test_ids_are_unique_and_labels_are_taxonomy_classes() -> None:
    assert len({e["id"] for e in CORPUS}) == len(CORPUS)
    assert {e["label"] for e in CORPUS} <= set(FailureClass)


def test_every_new_entry_names_its_public_source() -> None:
    for entry in SETS["train"] + SETS["held-out"] + SETS["held-out-2"]:
        assert entry["source"].startswith("https://github.com/"), entry["id"]
        assert entry["message"].strip(), entry["id"]


@pytest.mark.parametrize("name", list(SCORES))
def test_accuracy_figures(name: str) -> None:
    """Prints the figures of one set and holds them to their floors."""
    s = SCORES[name]
    print("\n" + "\n".join(s.lines()))
    overall, per_class = FLOORS[name]
    assert s.accuracy >= overall, _explain(s)
    assert all(s.class_accuracy(c) >= per_class for c in s.judged_classes()), _explain(s)


@pytest.mark.parametrize("name", BARRED)
def test_issue_13_bar(name: str) -> None:
    """The fresh held-out set and the whole corpus meet the bar, every part of it."""
    assert SCORES[name].short_of_bar() == [], _explain(SCORES[name])


@pytest.mark.parametrize("name", list(SCORES))
def test_no_non_retryable_error_is_called_retryable(name: str) -> None:
    assert SCORES[name].unsafe == 0, _explain(SCORES[name])


@pytest.mark.parametrize("name", list(SCORES))
def test_unknown_is_at_most_three_percent(name: str) -> None:
    assert SCORES[name].unknown_rate <= 0.03, _explain(SCORES[name])


@pytest.mark.parametrize("entry", CORPUS, ids=lambda e: e["id"])
def test_verdict_is_consistent_with_the_taxonomy(entry: dict[str, Any]) -> None:
    verdict = VERDICTS[entry["id"]]
    info = CLASS_INFO[verdict.failure_class]
    assert verdict.error_code == info.error_code
    assert verdict.severity == info.severity
    assert verdict.user_message
    assert not _LEAKS.search(" ".join([verdict.user_message, *verdict.actionable_steps]))


def test_classifying_is_deterministic() -> None:
    for entry in CORPUS[::7]:
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
