"""`make schemas`: the JSON Schema of every event, and the AsyncAPI document, from the Structs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from contracts import asyncapi
from contracts.codec import EVENT_TYPES, AnyEvent, type_tag


def event_schemas() -> dict[str, dict[str, Any]]:
    """type tag → JSON Schema of that event (plus ``any-event`` for the whole union)."""
    schemas = {type_tag(kind): msgspec.json.schema(kind) for kind in EVENT_TYPES}
    schemas["any-event"] = msgspec.json.schema(AnyEvent)
    return schemas


def schema_texts() -> dict[str, str]:
    """file name → text of every ``<type>.schema.json`` (what `write` puts on disk)."""
    return {
        f"{tag}.schema.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for tag, schema in event_schemas().items()
    }


def write(directory: Path, asyncapi_path: Path | None = None) -> list[Path]:
    """Write one ``<type>.schema.json`` per event into `directory`, and the AsyncAPI
    document to `asyncapi_path` (default: ``asyncapi.yaml`` next to `directory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_texts().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    target = asyncapi_path or directory.parent / "asyncapi.yaml"
    target.write_text(asyncapi.render())
    written.append(target)
    return written


def main() -> None:
    """``python -m contracts.schemas [SCHEMA_DIR [ASYNCAPI_FILE]]``."""
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
    document = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    for path in write(target, document):
        print(path)


if __name__ == "__main__":
    main()
