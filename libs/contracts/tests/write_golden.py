"""Regenerate golden JSON (run only when a new event type or version is added)."""

from pathlib import Path

from contracts.codec import encode
from tests.support.samples import SAMPLES

if __name__ == "__main__":
    out = Path(__file__).parent / "golden"
    out.mkdir(exist_ok=True)
    for event in SAMPLES:
        (out / f"{event.event_id}.v1.json").write_bytes(encode(event) + b"\n")
