"""The verdict memo: identical evidence is classified once per rule set, bounded, never wrong."""

from __future__ import annotations

from classifier.engine import classify
from classifier.memo import Memo
from classifier.rules import load_rules
from contracts.taxonomy import FailureClass

OOM = {"surface": "execution_error", "exception_type": "torch.OutOfMemoryError", "message": "x"}


def test_the_same_evidence_gets_the_same_verdict_without_a_second_classification() -> None:
    rules = load_rules('[[rules]]\nid = "r"\nclass = "GPU_OOM"\nmessage = ["boom"]', "t")
    first = classify({"surface": "log", "message": "boom"}, rules)
    assert classify({"surface": "log", "message": "boom"}, rules) is first
    assert len(rules.verdicts) == 1


def test_each_rule_set_keeps_its_own_verdicts() -> None:
    oom = load_rules('[[rules]]\nid = "r"\nclass = "GPU_OOM"\nmessage = ["boom"]', "a")
    disk = load_rules('[[rules]]\nid = "r"\nclass = "DISK_FULL"\nmessage = ["boom"]', "b")
    evidence = {"surface": "log", "message": "boom"}
    assert classify(evidence, oom).failure_class == FailureClass.GPU_OOM
    assert classify(evidence, disk).failure_class == FailureClass.DISK_FULL


def test_evidence_that_cannot_be_encoded_is_still_classified() -> None:
    verdict = classify({**OOM, "extra": object()})
    assert verdict.failure_class == FailureClass.GPU_OOM


def test_the_memo_drops_the_least_recently_used_entry() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c"), len(memo)) == (1, None, 3, 2)


def test_without_lru_the_oldest_entry_goes_first_whatever_was_read() -> None:
    memo: Memo[str, int] = Memo(2, lru=False)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, 2, 3)
    lru: Memo[str, int] = Memo(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
