"""The README's configuration table is the one the Settings classes generate."""

from __future__ import annotations

from pathlib import Path

from comfy_recovery.settings_doc import all_env_vars, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_configuration_table_matches_the_settings_classes() -> None:
    text = README.read_text()
    start = text.index("<!-- config-table:start -->") + len("<!-- config-table:start -->")
    table = text[start : text.index("<!-- config-table:end -->")].strip()
    hint = "regenerate: python -m comfy_recovery.settings_doc --write README.md"
    assert table == markdown_table(), hint


def test_every_setting_is_documented_with_a_description() -> None:
    missing = [v.name for v in all_env_vars() if not v.description]
    assert not missing, f"settings without a description: {missing}"


def test_readme_gives_the_two_commands_ci_runs() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
