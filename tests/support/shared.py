"""The vendored reference data: captured ComfyUI payloads and the labelled error corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comfysim.contract import PAYLOADS

CORPUS = Path(__file__).resolve().parents[2] / "services" / "classifier" / "corpus" / "errors.jsonl"


def payload(name: str) -> dict[str, Any]:
    """One captured payload file of the real ComfyUI server."""
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data
