"""The labelled corpora of real ComfyUI errors: accuracy, per-class accuracy, retry safety, UNKNOWN.

Six files (services/classifier/corpus/README.md): `errors.jsonl` (the first 135 entries the
rules were written from), `train.jsonl` and `heldout.jsonl` (a later set of 252, split by hash
before any rule was written from it; the held-out part was later looked at, so it is no longer a
held-out measure), `heldout2.jsonl` (64), `heldout3.jsonl` (92) and `heldout4.jsonl` (81), each
collected fresh and committed before the next rule change (heldout4: measured, no rule changed).
heldout2 + heldout3 + heldout4 together are the honest held-out measure. The figures are printed
(`pytest -s`) and held to floors; issue 13's bar (97% overall and 95% per class with at least 5
entries, 0 non-retryable called retryable, UNKNOWN at most 3%) is checked on the honest held-out
measure and on the whole corpus; where a set falls short, the shortfall is pinned exactly.
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
    "held-out-4": (0.81, 0.83),  # 81.5% (66/81), measured with no rule changed; 4 classes at 5/6
    HONEST: (0.91, 0.76),  # 91.1% (216/237); BACKEND_UNREACHABLE 10/13
    "whole": (0.96, 0.71),  # 96.3% (601/624); TIMEOUT 5/7
}
SHORT_OF_BAR = {
    # Issue 13's bar is not met on honest held-out data. heldout4, measured before any rule work
    # after it, adds 15 misses (corpus README: families without a rule yet, such as a client's
    # wording of a dead websocket or readiness, a 401/403 from a third-party API node, a wrapper's
    # missing input or output file, a KeyError naming a class, validation reports of mixed types).
    HONEST: [
        "overall 91.1%",
        "BACKEND_ERROR 83.3%",
        "BACKEND_UNREACHABLE 76.9%",
        "BACKEND_UNSUPPORTED 91.7%",
        "DEPENDENCY_MISSING 92.9%",
        "EXTERNAL_SERVICE_ERROR 86.7%",
        "GPU_FAULT 83.3%",
        "INPUT_MISSING 85.7%",
        "INVALID_PARAMETERS 90.6%",
        "MODEL_MISSING 94.4%",
        "NODE_MISSING 92.9%",
        "PERMISSION_DENIED 81.8%",
        "3 non-retryable called retryable",
        "UNKNOWN 5.1%",
    ],
    "whole": [
        "overall 96.3%",
        "BACKEND_ERROR 93.8%",
        "BACKEND_UNREACHABLE 87.5%",
        "EXTERNAL_SERVICE_ERROR 91.9%",
        "GPU_FAULT 92.3%",
        "INPUT_MISSING 94.1%",
        "INVALID_PARAMETERS 94.4%",
        "OUTPUT_MISSING 80.0%",
        "PERMISSION_DENIED 93.3%",
        "TIMEOUT 71.4%",
        "3 non-retryable called retryable",
    ],
}
UNSAFE = {
    # heldout4's non-retryable errors called retryable, pinned so that any change shows: a JSON
    # decode of a node's own input called a malformed backend reply (r0440) and two 401/403 replies
    # of third-party APIs met by nodes that came back UNKNOWN (r0473, r0475).
    name: ["r0440", "r0473", "r0475"]
    for name in ("held-out-4", HONEST, "whole")
}
UNKNOWN_COUNT = {"held-out-4": 10, HONEST: 12}
"""Sets whose UNKNOWN share is above 3% (12.3% and 5.1%), pinned at their measured counts."""
_LEAKS = re.compile(
    r"[A-Za-z]:\\|/(?:home|usr|opt|var|tmp|workspace|media|app)/|https?://|Traceback|File \""
)


def _explain(s: Score) -> str:
    return "\n".join([*s.lines(), *(f"  miss {m}" for m in s.misses)])


def test_ids_are_unique_and_labels_are_taxonomy_classes() -> None:
    assert len({e["id"] for e in CORPUS}) == len(CORPUS)
    assert {e["label"] for e in CORPUS} <= set(FailureClass)


def test_every_new_entry_names_its_public_source() -> None:
    for entry in [e for name, part in SETS.items() if name != "original" for e in part]:
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
    """None anywhere, except the ones UNSAFE pins (exactly those)."""
    unsafe = [m.id for m in SCORES[name].misses if m.unsafe]
    assert unsafe == UNSAFE.get(name, []), _explain(SCORES[name])


@pytest.mark.parametrize("name", list(SCORES))
def test_unknown_is_at_most_three_percent(name: str) -> None:
    """At most 3% everywhere, except the sets UNKNOWN_COUNT pins at their measured count."""
    s = SCORES[name]
    if name in UNKNOWN_COUNT:
        assert s.unknown == UNKNOWN_COUNT[name], _explain(s)
    else:
        assert s.unknown_rate <= 0.03, _explain(s)


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
