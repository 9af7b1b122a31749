"""Migration files: naming, splitting, ordering, substitution, and edits after applying."""

from __future__ import annotations

import pytest

from analytics.errors import MigrationError
from analytics.migrations import load_migrations, parse_migration, pending, split_statements


def test_migrations_load_in_version_order_with_the_database_substituted() -> None:
    migrations = load_migrations("analytics_db")
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert [m.version for m in migrations][:2] == [1, 2]
    statements = [s for m in migrations for s in m.statements]
    assert all("${" not in s and not s.endswith(";") for s in statements)
    assert any("analytics_db.recovery_rates_since" in s for s in statements)


def test_statements_split_at_line_ends_and_comments_are_dropped() -> None:
    text = "-- a comment\nCREATE TABLE t (a Int8)\nENGINE = Log;\n\nSELECT ';' ;\nSELECT 2"
    assert split_statements(text) == [
        "CREATE TABLE t (a Int8)\nENGINE = Log",
        "SELECT ';'",
        "SELECT 2",
    ]


@pytest.mark.parametrize(
    ("name", "text"), [("1_x.sql", "SELECT 1;"), ("0003_x.txt", "SELECT 1;"), ("0003_x.sql", "--")]
)
def test_misnamed_or_empty_migrations_are_refused(name: str, text: str) -> None:
    with pytest.raises(MigrationError):
        parse_migration(name, text, "db")


def test_pending_skips_applied_and_refuses_a_file_edited_after_it_was_applied() -> None:
    first, second = (parse_migration(f"000{n}_m.sql", f"SELECT {n};", "db") for n in (1, 2))
    assert pending([first, second], {1: first.checksum}) == [second]
    with pytest.raises(MigrationError, match="changed after it was applied"):
        pending([first, second], {1: "another checksum"})
