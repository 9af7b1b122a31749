"""ComfyUI history entries and websocket payloads → our outcomes and evidence (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from contracts.job import FailureEvidence, OutputFile

MAX_MESSAGE: Final = 4000
MAX_FRAMES: Final = 30
MAX_FRAME: Final = 600
MAX_INPUTS: Final = 24
MAX_INPUT: Final = 200


@dataclass(frozen=True)
class Outcome:
    """How a finished prompt ended, read from its history entry."""

    kind: str  # "success" | "error" | "interrupted"
    outputs: dict[str, list[OutputFile]] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def outputs_of(entry: dict[str, Any]) -> dict[str, list[OutputFile]]:
    """Every file an output node reported (images, gifs, audio, …)."""
    found: dict[str, list[OutputFile]] = {}
    for node_id, ui in (entry.get("outputs") or {}).items():
        files = [
            OutputFile(
                filename=str(item["filename"]),
                subfolder=str(item.get("subfolder", "")),
                type=str(item.get("type", "output")),
            )
            for items in (ui or {}).values()
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict) and "filename" in item
        ]
        found[str(node_id)] = files
    return found


def outcome_of(entry: dict[str, Any]) -> Outcome | None:
    """The outcome in a /history/{id} entry, or None if it is not finished."""
    status = entry.get("status") or {}
    messages = status.get("messages") or []
    cached = [
        str(n)
        for name, data in messages
        if name == "execution_cached"
        for n in data.get("nodes", [])
    ]
    last_name, last_data = messages[-1] if messages else ("", {})
    if status.get("status_str") == "success":
        return Outcome("success", outputs_of(entry), cached)
    if last_name == "execution_interrupted":
        return Outcome("interrupted", outputs_of(entry), cached, dict(last_data))
    if last_name == "execution_error":
        return Outcome("error", outputs_of(entry), cached, dict(last_data))
    if status.get("status_str") == "error":
        return Outcome("error", outputs_of(entry), cached, {})
    return None


def _cut(text: Any, limit: int) -> str:
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def execution_error_evidence(
    data: dict[str, Any], version: str | None, device_type: str | None
) -> FailureEvidence:
    """Evidence of an ``execution_error``, bounded so no event exceeds a few KB."""
    inputs = data.get("current_inputs") or {}
    inputs = inputs if isinstance(inputs, dict) else {}
    frames = [str(f) for f in (data.get("traceback") or [])][-MAX_FRAMES:]
    return FailureEvidence(
        surface="execution_error",
        message=_cut(str(data.get("exception_message", "")).rstrip("\n"), MAX_MESSAGE),
        exception_type=data.get("exception_type"),
        node_id=None if data.get("node_id") is None else str(data["node_id"]),
        node_type=data.get("node_type"),
        traceback=[_cut(f, MAX_FRAME) for f in frames],
        current_inputs={str(k): _cut(v, MAX_INPUT) for k, v in list(inputs.items())[:MAX_INPUTS]},
        executed=[str(n) for n in data.get("executed") or []][:200],
        comfyui_version=version,
        device_type=device_type,
    )


def observation_evidence(
    observation: str,
    message: str,
    *,
    node_id: str | None = None,
    node_type: str | None = None,
    interrupted_by_us: bool = False,
    version: str | None = None,
) -> FailureEvidence:
    """Evidence of something the monitor saw itself (stall, timeout, lost prompt, …)."""
    return FailureEvidence(
        surface="monitor",
        observation=observation,
        message=message,
        node_id=node_id,
        node_type=node_type,
        interrupted_by_us=interrupted_by_us,
        comfyui_version=version,
    )


def missing_outputs(expected: list[str], outputs: dict[str, list[OutputFile]]) -> list[str]:
    """Expected output nodes that produced no file."""
    return [node for node in expected if not outputs.get(node)]
