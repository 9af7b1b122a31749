"""`make schemas`: the JSON Schema of every event, generated from the Structs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from contracts.codec import EVENT_TYPES, AnyEvent, type_tag


def event_schemas() -> dict[str, dict[str, Any]]:
    """type tag → JSON Schema of that event (plus ``any-event`` for the whole union)."""
    schemas = {type_tag(kind): msgspec.json.schema(kind) for kind in EVENT_TYPES}
    schemas["any-event"] = msgspec.json.schema(AnyEvent)
    return schemas


def write(directory: Path) -> list[Path]:
    """Write one ``<type>.schema.json`` per event into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for tag, schema in event_schemas().items():
        path = directory / f"{tag}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main() -> None:
    """``python -m contracts.schemas DIR``."""
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
    for path in write(target):
        print(path)


if __name__ == "__main__":
    main()
