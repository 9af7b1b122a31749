"""The SQL views name event types by their wire tag: every one they name is an event class."""

from __future__ import annotations

import re
from importlib import resources

from contracts.codec import EVENT_TYPES, type_tag

TAG_LITERAL = re.compile(r"'([a-z]+\.[a-z_]+)'")


def _sql_texts() -> dict[str, str]:
    folder = resources.files("analytics.migrations")
    return {p.name: p.read_text() for p in folder.iterdir() if p.name.endswith(".sql")}


def test_every_event_type_the_views_name_is_a_defined_event() -> None:
    known = {type_tag(kind) for kind in EVENT_TYPES}
    named = {tag for text in _sql_texts().values() for tag in TAG_LITERAL.findall(text)}
    assert named, "the pattern found no event type in the migrations"
    assert named <= known, f"views name unknown event types: {sorted(named - known)}"


def test_a_misspelt_type_would_be_caught() -> None:
    known = {type_tag(kind) for kind in EVENT_TYPES}
    assert set(TAG_LITERAL.findall("WHERE e.type = 'job.failde'")) - known == {"job.failde"}
