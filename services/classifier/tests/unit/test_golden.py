"""Golden verdicts: every corpus entry (and three variants of it) classified exactly as recorded.

The snapshot (`golden_verdicts.jsonl`, one ``{"id": …, "verdict": …}`` a line) pins the whole
verdict, byte for byte: class, code, retryability, rule, confidence, features, user message
and steps. Speed work on the engine must keep it green; a deliberate rule change regenerates
it with ``python services/classifier/tests/unit/test_golden.py --write`` and the diff is read.

Variants per entry: as in the corpus; the message made distinct (the bench's cold path); the
message alone as free text (surface ``log``); the message as traceback frames only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from classifier.engine import _classify, classify
from classifier.rules import default_rules

CORPUS_DIR = Path(__file__).resolve().parents[2] / "corpus"
GOLDEN = Path(__file__).with_name("golden_verdicts.jsonl")
FILES = ("errors.jsonl", "train.jsonl", "heldout.jsonl")


def cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """(case id, evidence) for every corpus entry and its variants."""
    for name in FILES:
        for line in (CORPUS_DIR / name).read_text("utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            key = entry["id"]
            yield key, entry
            yield f"{key}#distinct", {**entry, "message": f"{entry['message']} [job {key}]"}
            yield f"{key}#free-text", {"surface": "log", "message": entry["message"]}
            frames = [f"{line}\n" for line in entry["message"].splitlines()]
            yield f"{key}#traceback", {"surface": entry["surface"], "traceback": frames}


def verdict_json(evidence: dict[str, Any]) -> bytes:
    """The verdict without the memo, as the JSON the service publishes (insertion order)."""
    return msgspec.json.encode(_classify(evidence, default_rules()))


def _golden() -> dict[str, Any]:
    if not GOLDEN.is_file():
        pytest.fail(f"golden snapshot missing: {GOLDEN}")
    rows = [json.loads(line) for line in GOLDEN.read_text("utf-8").splitlines()]
    return {row["id"]: row["verdict"] for row in rows}


CASES = list(cases())


def test_snapshot_covers_every_case() -> None:
    assert len(CASES) == 4 * 387
    assert sorted(_golden()) == sorted(key for key, _ in CASES)


def test_every_verdict_is_byte_identical_to_the_snapshot() -> None:
    golden = _golden()
    changed = [
        key for key, evidence in CASES if verdict_json(evidence) != msgspec.json.encode(golden[key])
    ]
    assert changed == [], f"{len(changed)} verdicts changed, e.g. {changed[:10]}"


def test_the_memo_answers_as_the_engine_does() -> None:
    for key, evidence in CASES[::5]:
        assert msgspec.json.encode(classify(evidence)) == verdict_json(evidence), key
        assert msgspec.json.encode(classify(evidence)) == verdict_json(evidence), key


def _write() -> None:
    lines = [
        f'{{"id": {json.dumps(key)}, "verdict": {verdict_json(evidence).decode()}}}\n'
        for key, evidence in CASES
    ]
    GOLDEN.write_text("".join(lines), "utf-8")
    print(f"wrote {len(lines)} verdicts to {GOLDEN.name}")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write()
