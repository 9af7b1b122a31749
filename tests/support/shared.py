"""Paths into ../shared (beside the checkout, in development and in CI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[3] / "shared"
PAYLOADS = SHARED / "comfyui" / "payloads"
CORPUS = SHARED / "corpus" / "errors.jsonl"


def payload(name: str) -> dict[str, Any]:
    """One captured payload file of the real ComfyUI server."""
    path = PAYLOADS / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: shared/ must sit beside the checkout")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
