"""Versioned schema migrations: ``NNNN_name.sql`` files in this folder, applied in order.

Each file holds statements ending in ``;`` at the end of a line; ``--`` lines are comments.
``${database}`` is replaced by the target database (parameterised views must be named with
it). Applied versions are recorded in ``schema_migrations`` with the file's checksum, so an
applied file that was edited afterwards is refused instead of silently diverging.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

from analytics.errors import MigrationError

_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

LEDGER_DDL: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""
"""The ledger of applied migrations (itself created idempotently before any migration)."""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, name, checksum and statements."""

    version: int
    name: str
    checksum: str
    statements: tuple[str, ...]


def load_migrations(database: str) -> list[Migration]:
    """Every migration of this package, in version order, with `database` substituted.

    Raises:
        MigrationError: a file is misnamed, empty, or two files share a version.
    """
    found: dict[int, Migration] = {}
    for entry in resources.files(__package__).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        migration = parse_migration(entry.name, entry.read_text(encoding="utf-8"), database)
        if migration.version in found:
            raise MigrationError(f"two migrations have version {migration.version}")
        found[migration.version] = migration
    return [found[v] for v in sorted(found)]


def parse_migration(filename: str, text: str, database: str) -> Migration:
    """A `Migration` from a file's name and text.

    Raises:
        MigrationError: the name is not ``NNNN_name.sql`` or the file has no statement.
    """
    match = _NAME.match(filename)
    if match is None:
        raise MigrationError(f"migration file {filename!r} is not named NNNN_name.sql")
    statements = split_statements(text.replace("${database}", database))
    if not statements:
        raise MigrationError(f"migration {filename!r} holds no statement")
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return Migration(int(match.group(1)), match.group(2), checksum, tuple(statements))


def split_statements(text: str) -> list[str]:
    """The statements of a file: comment lines dropped, split where a line ends with ``;``."""
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";").strip())
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


def pending(migrations: list[Migration], applied: dict[int, str]) -> list[Migration]:
    """The migrations not applied yet (`applied`: version → checksum).

    Raises:
        MigrationError: an applied migration's file changed since it was applied.
    """
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} changed after it was "
                "applied; add a new migration instead"
            )
    return [m for m in migrations if m.version not in applied]
