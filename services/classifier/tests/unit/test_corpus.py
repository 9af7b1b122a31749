"""The labelled corpora of real ComfyUI errors: accuracy, per-class accuracy, retry safety, UNKNOWN.

Five files (services/classifier/corpus/README.md): `errors.jsonl` (the first 135 entries the
rules were written from), `train.jsonl` and `heldout.jsonl` (a later set of 252, split by hash
before any rule was written from it; the held-out part was later looked at, so it is no longer a
held-out measure), `heldout2.jsonl` (64) and `heldout3.jsonl` (92), each collected fresh and
committed before the next rule change. heldout2 + heldout3 together are the honest held-out
measure. The figures are printed (`pytest -s`) and held to floors; issue 13's bar (97% overall
and 95% per class with at least 5 entries, 0 non-retryable called retryable, UNKNOWN at most 3%)
is checked on the honest held-out measure and on the whole corpus.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from classifier.engine import Classification, classify
from classifier.scoring import BARRED, CORPUS_FILES, HONEST, Score, corpus_scores, load_corpus
from contracts.taxonomy import CLASS_INFO, FailureClass

CORPUS_DIR = Path(__file__).resolve().parents[2] / "corpus"
for _file in CORPUS_FILES.values():
    if not (CORPUS_DIR / _file).is_file():
        pytest.fail(f"corpus missing: {CORPUS_DIR / _file}", pytrace=False)

SETS = load_corpus(CORPUS_DIR)
CORPUS = [e for entries in SETS.values() for e in entries]
VERDICTS: dict[str, Classification] = {entry["id"]: classify(entry) for entry in CORPUS}
SCORES = corpus_scores(SETS)
FLOORS = {
    # name: (overall, per class with >= 5 entries); the measured figures after the third rule pass
    "original": (1.0, 1.0),
    "train": (0.98, 0.95),
    "held-out": (0.96, 0.80),  # 97.8%; looked at (its misses too), so no longer a held-out measure
    "held-out-2": (0.97, 0.95),  # 100%: 85.9% before the second rule pass, 100% after it
    "held-out-3": (0.93, 0.83),  # 93.5%: 72.8% before the third rule pass; EXTERNAL 5/6
    HONEST: (0.96, 0.87),  # 96.2% (150/156): 84.0% before; BACKEND_UNSUPPORTED 7/8
    "whole": (0.98, 0.83),  # 98.5% (535/543); TIMEOUT 5/6
}
SHORT_OF_BAR = {
    # Issue 13's bar is not met on honest held-out data: one miss each in small classes (a bare
    # 'Read timed out' to ComfyUI, a cuBLAS INTERNAL_ERROR on ZLUDA, an httpx getaddrinfo failure
    # with no host, an ffmpeg broken pipe, three validation errors of two kinds, a cut-off
    # comfy-cli receive timeout): no family of their generators decides them from the text.
    HONEST: [
        "overall 96.2%",
        "BACKEND_UNREACHABLE 90.0%",
        "BACKEND_UNSUPPORTED 87.5%",
        "DEPENDENCY_MISSING 91.7%",
        "EXTERNAL_SERVICE_ERROR 88.9%",
        "INVALID_PARAMETERS 94.1%",
    ],
    "whole": ["BACKEND_UNREACHABLE 93.1%", "EXTERNAL_SERVICE_ERROR 93.5%", "TIMEOUT 83.3%"],
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
    for entry in [
        e for name in ("train", "held-out", "held-out-2", "held-out-3") for e in SETS[name]
    ]:
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
    """Issue 13's bar on the honest held-out measure and on the whole corpus: where it is short,
    exactly as SHORT_OF_BAR (and the corpus README) say. Any change, for better or worse, fails
    here until both are updated; an empty list means the bar is met."""
    assert SCORES[name].short_of_bar() == SHORT_OF_BAR[name], _explain(SCORES[name])


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
