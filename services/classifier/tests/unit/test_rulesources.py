"""The operator's rules file: read at start, re-read when it changes, broken content skipped."""

from __future__ import annotations

import os
from pathlib import Path

from classifier.engine import classify
from classifier.rulebook import RuleBook
from classifier.rulesources import FileRules

RULE = '[[rules]]\nid = "ops.{name}"\nclass = "TIMEOUT"\nmessage = ["{word}"]\n'


def _write(path: Path, text: str, stamp: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(stamp, stamp))


def test_a_changed_file_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    _write(path, RULE.format(name="a", word="quota"), 1_000_000_000)
    book = RuleBook()
    rules = FileRules(path, book)
    assert rules.check() is True
    assert classify({"surface": "log", "message": "quota"}, book.current).rule == "ops.a"
    assert rules.check() is False
    _write(path, RULE.format(name="b", word="quota"), 2_000_000_000)
    assert rules.check() is True
    assert classify({"surface": "log", "message": "quota"}, book.current).rule == "ops.b"


def test_a_broken_rule_in_the_file_is_skipped_and_the_rest_apply(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    broken = '[[rules]]\nid = "bad"\nclass = "GPU_OOM"\nmessage = ["(a+)+"]\n'
    _write(path, broken + RULE.format(name="ok", word="quota"), 1_000_000_000)
    book = RuleBook()
    FileRules(path, book).check()
    assert classify({"surface": "log", "message": "quota"}, book.current).rule == "ops.ok"


def test_a_missing_file_means_no_custom_rules(tmp_path: Path) -> None:
    book = RuleBook()
    FileRules(tmp_path / "absent.toml", book).check()
    assert classify({"surface": "log", "message": "quota"}, book.current).rule == "unknown"
