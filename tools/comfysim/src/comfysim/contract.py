"""Comparing live replies with captured ones: status, content type, keys, value types, order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

import httpx

PAYLOADS: Final = Path(__file__).parent / "data" / "payloads"
_UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PROGRESS: Final = frozenset({"progress", "progress_state"})


def load(name: str) -> dict[str, Any]:
    """One payload file."""
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def payload_names() -> list[str]:
    """Every captured payload file."""
    return sorted(path.name for path in PAYLOADS.glob("*.json"))


def _key(key: str) -> str:
    return "<uuid>" if _UUID.match(key) else key


def shape_errors(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences in structure: key sets (UUID keys normalised), nesting and JSON value types.

    Values themselves are not compared. In lists (whose order ComfyUI often leaves arbitrary)
    every actual element must have the shape of some captured element. An empty list on either
    side has no element shape to compare.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        want = {_key(k): v for k, v in expected.items()}
        got = {_key(k): v for k, v in actual.items()}
        if set(want) != set(got):
            missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
            return [f"{path}: keys differ, missing {missing}, extra {extra}"]
        return [e for k in want for e in shape_errors(want[k], got[k], f"{path}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {type(actual).__name__}"]
        if not expected or not actual:
            return []
        if len(expected) == len(actual):
            pairs = enumerate(zip(expected, actual, strict=True))
            positional = [e for i, (x, y) in pairs for e in shape_errors(x, y, f"{path}[{i}]")]
            if not positional:
                return []
        errors = []
        for index, item in enumerate(actual):
            if all(shape_errors(candidate, item) for candidate in expected):
                errors.append(f"{path}[{index}]: matches no captured element")
        return errors
    if type(expected) is not type(actual):
        return [f"{path}: expected {type(expected).__name__}, got {type(actual).__name__}"]
    return []


def assert_same_shape(expected: Any, actual: Any, what: str) -> None:
    """Fail with every structural difference listed."""
    errors = shape_errors(expected, actual)
    assert not errors, f"{what}:\n" + "\n".join(errors)


def assert_same_reply(captured: dict[str, Any], reply: httpx.Response, what: str) -> None:
    """Status, content type, and the body's shape (or exact text for non-JSON bodies)."""
    assert reply.status_code == captured["status"], (
        f"{what}: status {reply.status_code} != {captured['status']}"
    )
    content_type = reply.headers.get("content-type", "")
    assert content_type == captured["content_type"], f"{what}: content type {content_type!r}"
    if "body" in captured:
        assert_same_shape(captured["body"], reply.json(), what)
    elif "body_text" in captured:
        assert reply.text == captured["body_text"], f"{what}: body {reply.text!r}"


async def send(http: httpx.AsyncClient, request: dict[str, Any]) -> httpx.Response:
    """Replay a captured request: JSON bodies as JSON, string bodies as raw bytes."""
    body = request.get("body")
    if body is None:
        return await http.request(request["method"], request["path"])
    if isinstance(body, str):
        headers = {"Content-Type": "application/json"}
        return await http.request(
            request["method"], request["path"], content=body.encode(), headers=headers
        )
    return await http.request(request["method"], request["path"], json=body)


def captured_frames(ws: dict[str, Any]) -> list[Any]:
    """The frames the server sent, as JSON messages or `binary:<type>` tokens."""
    frames = []
    for frame in ws["messages"]:
        if frame.get("direction") == "client->server":
            continue
        frames.append(
            frame["message"] if frame["kind"] == "text" else f"binary:{frame['event_type']}"
        )
    return frames


def frame_type(frame: Any) -> str:
    """The type of a JSON frame, or the token of a binary one."""
    if isinstance(frame, dict):
        return str(frame["type"])
    if isinstance(frame, bytes):
        return f"binary:{int.from_bytes(frame[:4], 'big')}"
    return str(frame)


def timing_free(types: list[str]) -> list[str]:
    """Types without what depends on timing: later statuses, the length of progress runs."""
    out: list[str] = []
    for index, kind in enumerate(types):
        if kind == "status" and index > 0:
            continue
        token = "progress*" if kind in _PROGRESS else kind
        if not (token == "progress*" and out and out[-1] == token):
            out.append(token)
    return out


def assert_same_frames(
    captured: list[Any], actual: list[Any], what: str, exact: bool = True
) -> None:
    """Same order of message types (exactly, or timing-free) and the same shape per message."""
    want = [frame_type(f) for f in captured]
    got = [frame_type(f) for f in actual]
    if exact:
        assert got == want, f"{what}: message order differs\n captured {want}\n actual   {got}"
        pairs = zip(captured, actual, strict=True)
        for index, (x, y) in enumerate(pairs):
            if isinstance(x, dict):
                assert_same_shape(x, y, f"{what} frame {index} ({x['type']})")
        return
    assert timing_free(got) == timing_free(want), (
        f"{what}: order differs\n captured {want}\n actual   {got}"
    )
    for index, frame in enumerate(actual):
        if not isinstance(frame, dict):
            continue
        candidates = [f for f in captured if isinstance(f, dict) and f["type"] == frame["type"]]
        assert any(not shape_errors(c, frame) for c in candidates), (
            f"{what} frame {index} ({frame['type']}) matches no captured frame of its type"
        )
