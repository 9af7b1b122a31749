"""Rules as data: the default file loads clean; broken custom rules are reported and skipped."""

from __future__ import annotations

import pytest

from classifier.engine import classify
from classifier.rulebook import RuleBook
from classifier.rules import default_rules, load_rules
from contracts.taxonomy import FailureClass as C

GOOD = """
[[rules]]
id = "ops.vendor_quota"
class = "EXTERNAL_SERVICE_ERROR"
priority = 10
message = ['vendor quota exhausted']
"""


def test_the_default_rules_load_without_errors() -> None:
    rules = default_rules()
    assert rules.errors == ()
    assert len(rules.rules) > 50
    assert len({r.id for r in rules.rules}) == len(rules.rules)


def test_default_rules_are_ordered_by_priority() -> None:
    priorities = [r.priority for r in default_rules().rules]
    assert priorities == sorted(priorities, reverse=True)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ('id = "a"\nclass = "NOPE"\nmessage = ["x"]', "not a taxonomy class"),
        ('id = "a"\nclass = "GPU_OOM"\nmesage = ["x"]', "unknown key"),
        ('id = "a"\nclass = "GPU_OOM"\nmessage = ["(unclosed"]', "invalid pattern"),
        ('id = "a"\nclass = "GPU_OOM"\nmessage = ["x(a+)+y"]', "nests repeats"),
        ('id = "a"\nclass = "GPU_OOM"\nmessage = [".*x"]', "starts with a repeat"),
        ('id = "a"\nclass = "GPU_OOM"\nmessage = ["a.*b"]', "bound repeats"),
        ('id = "a"\nclass = "GPU_OOM"\nmessage = ["(a)\\\\1"]', "back-reference"),
        ('id = "a"\nclass = "GPU_OOM"', "at least one condition"),
        ('id = "a"\nclass = "GPU_OOM"\nwhere = { colour = "red" }', "unknown where key"),
        ('id = "a"\nclass = "GPU_OOM"\nwhere = { http_status = "9xx" }', "http_status"),
        ('id = "a"\nclass = "GPU_OOM"\npriority = "high"\nmessage = ["x"]', "priority"),
        ('id = "a"\nclass = "GPU_OOM"\nmessage = ["@nope"]', "unknown set"),
        ('class = "GPU_OOM"\nmessage = ["x"]', "'id'"),
    ],
)
def test_a_broken_rule_is_reported_and_the_others_still_load(rule: str, reason: str) -> None:
    rules = load_rules(f"[[rules]]\n{rule}\n{GOOD}", "test")
    assert [r.id for r in rules.rules] == ["ops.vendor_quota"]
    assert len(rules.errors) == 1
    assert reason in rules.errors[0].reason


def test_a_document_that_is_not_toml_is_one_reported_error() -> None:
    rules = load_rules("[[rules]\nid = ", "broken.toml")
    assert rules.rules == ()
    assert rules.errors[0].source == "broken.toml"


def test_a_duplicate_id_is_rejected() -> None:
    rules = load_rules(GOOD + GOOD, "dup")
    assert len(rules.rules) == 1
    assert "duplicate" in rules.errors[0].reason


def test_rules_can_be_written_as_json() -> None:
    document = '{"rules": [{"id": "j", "class": "TIMEOUT", "message": ["took ages"]}]}'
    assert [r.id for r in load_rules(document, "json").rules] == ["j"]


def test_custom_rules_may_use_the_default_pattern_sets() -> None:
    document = '[[rules]]\nid = "n"\nclass = "TIMEOUT"\ntext = ["@connect_failures"]'
    rules = load_rules(document, "custom", default_rules().sets)
    assert rules.errors == ()


def test_custom_rules_are_evaluated_before_the_defaults() -> None:
    book = RuleBook()
    document = (
        '[[rules]]\nid = "ops.oom_is_fault"\nclass = "GPU_FAULT"\npriority = -5\n'
        "message = ['out of memory']"
    )
    book.set_file(document, "ops.toml")
    verdict = classify(
        {"surface": "execution_error", "message": "CUDA out of memory"}, book.current
    )
    assert (verdict.failure_class, verdict.rule) == (C.GPU_FAULT, "ops.oom_is_fault")


def test_a_removed_custom_document_restores_the_defaults() -> None:
    book = RuleBook()
    book.set_kv({"a": b'[[rules]]\nid = "x"\nclass = "TIMEOUT"\nmessage = ["out of memory"]'})
    book.set_kv({})
    verdict = classify(
        {"surface": "execution_error", "message": "CUDA out of memory"}, book.current
    )
    assert verdict.failure_class == C.GPU_OOM


def test_broken_kv_documents_are_reported_with_their_key() -> None:
    errors = RuleBook().set_kv({"team-a": b"not = [valid"})
    assert errors[0].source == "kv:team-a"


@pytest.mark.parametrize(
    ("where", "evidence", "matches"),
    [
        ('{ http_status = "5xx" }', {"surface": "http", "http_status": 503}, True),
        ('{ http_status = "5xx" }', {"surface": "http", "http_status": 404}, False),
        (
            '{ exception_type = "OutOfMemoryError" }',
            {"surface": "x", "exception_type": "torch.cuda.OutOfMemoryError"},
            True,
        ),
        (
            '{ exception_type = "MemoryError" }',
            {"surface": "x", "exception_type": "torch.cuda.OutOfMemoryError"},
            False,
        ),
        ('{ node_type_matches = "loader" }', {"surface": "x", "node_type": "VAELoader"}, True),
        ("{ has_node_type = false }", {"surface": "x", "node_type": "VAELoader"}, False),
        ('{ surface = ["client", "http"] }', {"surface": "CLIENT"}, True),
    ],
)
def test_structured_conditions(where: str, evidence: dict[str, object], matches: bool) -> None:
    book = RuleBook()
    book.set_file(f'[[rules]]\nid = "w"\nclass = "CANCELLED"\nwhere = {where}', "w.toml")
    assert (classify(evidence, book.current).rule == "w") is matches


def test_where_not_and_unless_veto_a_rule() -> None:
    document = (
        '[[rules]]\nid = "v"\nclass = "CANCELLED"\nwhere_not = { surface = "client" }\n'
        "message = ['halt']\nunless = ['benign']"
    )
    book = RuleBook()
    book.set_file(document, "v.toml")
    assert classify({"surface": "log", "message": "halt"}, book.current).rule == "v"
    assert classify({"surface": "client", "message": "halt"}, book.current).rule != "v"
    assert classify({"surface": "log", "message": "halt (benign)"}, book.current).rule != "v"


def test_a_traceback_only_match_has_lower_confidence() -> None:
    document = '[[rules]]\nid = "t"\nclass = "CANCELLED"\ntext = [\'needle here\']'
    book = RuleBook()
    book.set_file(document, "t.toml")
    in_message = classify({"surface": "log", "message": "needle here"}, book.current)
    in_traceback = classify({"surface": "log", "traceback": ["needle here\n"]}, book.current)
    assert in_message.rule == in_traceback.rule == "t"
    assert in_traceback.confidence < in_message.confidence
