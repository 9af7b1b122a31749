"""ComfyUI history entries and websocket payloads → our outcomes and evidence (pure)."""

from __future__ import annotations

import json
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


def parse_frame(frame: str) -> tuple[str, dict[str, Any]]:
    """A websocket text frame's type and data; a frame that is not a message gives ("", {})."""
    try:
        message = json.loads(frame)
    except ValueError:
        return "", {}
    if not isinstance(message, dict):
        return "", {}
    data = message.get("data")
    return str(message.get("type", "")), data if isinstance(data, dict) else {}


def queue_remaining(data: dict[str, Any]) -> int | None:
    """``queue_remaining`` of a ``status`` message (None when it has none)."""
    status = data.get("status")
    info = status.get("exec_info") if isinstance(status, dict) else None
    remaining = info.get("queue_remaining") if isinstance(info, dict) else None
    return remaining if isinstance(remaining, int) else None


def outputs_of(entry: dict[str, Any]) -> dict[str, list[OutputFile]]:
    """Every file an output node reported (images, gifs, audio, …)."""
    found: dict[str, list[OutputFile]] = {}
    outputs = entry.get("outputs")
    for node_id, ui in (outputs if isinstance(outputs, dict) else {}).items():
        files = [
            OutputFile(
                filename=str(item["filename"]),
                subfolder=str(item.get("subfolder", "")),
                type=str(item.get("type", "output")),
            )
            for items in (ui if isinstance(ui, dict) else {}).values()
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict) and "filename" in item
        ]
        found[str(node_id)] = files
    return found


def _messages(status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The history entry's ``[name, data]`` pairs (anything else is skipped, not fatal)."""
    raw = status.get("messages")
    return [
        (str(m[0]), m[1])
        for m in (raw if isinstance(raw, list) else [])
        if isinstance(m, list | tuple) and len(m) == 2 and isinstance(m[1], dict)
    ]


def outcome_of(entry: dict[str, Any]) -> Outcome | None:
    """The outcome in a /history/{id} entry, or None if it is not finished."""
    raw_status = entry.get("status")
    status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
    messages = _messages(status)
    cached = [
        str(n)
        for name, data in messages
        if name == "execution_cached"
        for n in data.get("nodes") or []
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
    queued: bool = False,
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
        queued=queued,
    )


def missing_outputs(expected: list[str], outputs: dict[str, list[OutputFile]]) -> list[str]:
    """Expected output nodes that produced no file."""
    return [node for node in expected if not outputs.get(node)]
