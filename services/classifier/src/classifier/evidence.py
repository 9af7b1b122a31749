"""Evidence normalisation: a FailureEvidence or a loose mapping becomes bounded `Evidence`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import msgspec
import msgspec.structs

from classifier.nodeerrors import NodeErrorView, from_body, from_structured
from classifier.reporttext import from_text
from contracts.job import FailureEvidence

MAX_TEXT: Final = 8192
MAX_BODY_PARSE: Final = 262_144
MAX_FRAMES: Final = 20
MAX_FRAME: Final = 600
MAX_FIELD: Final = 200
MAX_INPUTS: Final = 64
_CLASS_PATH: Final = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]{0,99}(?:\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,9}"
)
_INFERRED: Final = re.compile(
    r"[ \t>]{0,20}((?:[A-Za-z_][A-Za-z0-9_]{0,80}\.){0,8}[A-Za-z_][A-Za-z0-9_]{0,80}"
    r"(?:Error|Exception|Interrupt|Exit))(?::|\s*$)"
)
"""A line that starts with an exception type (then a colon, or nothing more)."""
_SURROGATES: Final = re.compile("[\ud800-\udfff]")
_TYPE_SUFFIXES: Final = ("Error", "Exception", "Interrupt", "Exit")
_EXECUTING: Final = re.compile(r"error occurred when executing ([^:\n]{1,100}):", re.IGNORECASE)


class Evidence(msgspec.Struct, frozen=True):
    """One failure's evidence, every field bounded and typed; what rules and features read."""

    surface: str = ""
    message: str = ""
    body: str = ""
    traceback: str = ""
    exception_type: str = ""
    inferred_type: str = ""
    node_id: str = ""
    node_type: str = ""
    validation_type: str = ""
    http_status: int | None = None
    observation: str = ""
    interrupted_by_us: bool = False
    comfyui_version: str = ""
    device_type: str = ""
    node_errors: tuple[NodeErrorView, ...] = ()
    missing_class: str = ""
    current_inputs: tuple[tuple[str, str], ...] = ()


_KEYS: Final = (
    "surface",
    "message",
    "body",
    "exception_type",
    "node_errors",
    "node_type",
    "traceback",
    "node_id",
    "validation_type",
    "http_status",
    "observation",
    "interrupted_by_us",
    "comfyui_version",
    "device_type",
    "current_inputs",
)
"""What `normalize` reads, in the order `_raw` gives it."""


def normalize(raw: FailureEvidence | Mapping[str, Any] | Any) -> Evidence:
    """Bound and type any evidence; never raises (unknown shapes give empty fields)."""
    (
        raw_surface,
        raw_message,
        raw_body,
        raw_type,
        raw_node_errors,
        raw_node_type,
        raw_traceback,
        node_id,
        validation_type,
        status,
        observation,
        interrupted,
        version,
        device,
        inputs,
    ) = _raw(raw)
    surface = clip(raw_surface, 40).strip().lower()
    message = clip(raw_message, MAX_TEXT)
    body = "" if raw_body is None else clip(raw_body, MAX_TEXT)
    declared = "" if raw_type is None else _short(raw_type, MAX_FIELD)
    trusted = declared if declared and _CLASS_PATH.fullmatch(declared) else ""
    parsed_body = _parse_body(raw_body, surface)
    node_errors = (from_structured(raw_node_errors) if raw_node_errors else ()) or (
        from_body(parsed_body) if parsed_body else ()
    )
    if not node_errors and (surface != "execution_error" or not trusted):
        node_errors = from_text(f"{message}\n{body}" if body else message, surface)
    return Evidence(  # by position: a Struct's keyword matching costs more than the rest
        surface,
        message,
        body,
        _frames(raw_traceback),
        trusted,
        "" if trusted else _inferred_type(message),
        "" if node_id is None else _short(node_id, MAX_FIELD),  # most are None: no call
        (_short(raw_node_type, MAX_FIELD) if raw_node_type is not None else "")
        or _executing_node(message),
        (_short(validation_type, MAX_FIELD) if validation_type is not None else "")
        or (_body_error(parsed_body, "type") if parsed_body else ""),
        None if status is None else _status(status),
        "" if observation is None else _short(observation, 40).lower(),
        interrupted is True,
        "" if version is None else _short(version, 40),
        "" if device is None else _short(device, 40),
        node_errors,
        _missing_class(parsed_body) if parsed_body else "",
        _inputs(inputs),
    )


def _raw(raw: Any) -> tuple[Any, ...]:
    """The values `normalize` reads (`_KEYS`): a FailureEvidence's attributes, a mapping's keys."""
    if type(raw) is FailureEvidence:
        return (
            raw.surface,
            raw.message,
            raw.body,
            raw.exception_type,
            raw.node_errors,
            raw.node_type,
            raw.traceback,
            raw.node_id,
            raw.validation_type,
            raw.http_status,
            raw.observation,
            raw.interrupted_by_us,
            raw.comfyui_version,
            raw.device_type,
            raw.current_inputs,
        )
    get = _getter(raw)
    return tuple(get(key) for key in _KEYS)


def _short(value: Any, limit: int) -> str:
    """A short field, clipped and stripped ("" for None without more work)."""
    return "" if value is None else clip(value, limit).strip()


def clip(value: Any, limit: int) -> str:
    """`value` as text of at most about `limit` characters (head and tail kept), valid UTF-8."""
    if type(value) is str and len(value) <= limit:
        return value if value.isascii() else _SURROGATES.sub("\ufffd", value)
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: limit * 4]).decode("utf-8", "replace")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return ""
    if len(value) > limit:
        head = limit * 3 // 4
        value = f"{value[:head]}\n…\n{value[-(limit - head) :]}"
    return value if value.isascii() else _SURROGATES.sub("\ufffd", value)


def _getter(raw: Any) -> Any:
    """A `get(key)` on any evidence, C-level for FailureEvidence (its attribute lookup: every key
    `normalize` reads is one of its fields) and a dict (its own `get`)."""
    if isinstance(raw, FailureEvidence):
        return raw.__getattribute__
    if type(raw) is dict:
        return raw.get
    if isinstance(raw, Mapping):
        return lambda key: raw.get(key)
    return lambda key: None


def _frames(value: Any) -> str:
    if value is None or (type(value) is list and not value):
        return ""
    if isinstance(value, str | bytes | bytearray):
        return clip(value, MAX_TEXT)
    if not isinstance(value, list | tuple):
        return ""
    frames = [clip(f, MAX_FRAME) for f in value[-MAX_FRAMES:]]
    return "".join(f if f.endswith("\n") else f + "\n" for f in frames if f)


def _inputs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not value:
        return ()
    items = list(value.items())[:MAX_INPUTS]
    return tuple((clip(k, MAX_FIELD), _input_value(v)) for k, v in items if isinstance(k, str))


def _input_value(value: Any) -> str:
    """A node input as text; ComfyUI wraps values in a one-element list."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    text = clip(value, MAX_FIELD).strip()
    if len(text) > 4 and text[0] == "[" and text[-1] == "]" and text[1] in "'\"":
        text = text[2:-2]
    return text


def _status(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 3:
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    return None


def _inferred_type(message: str) -> str:
    """The exception type starting the last line that starts with one (a pasted traceback)."""
    if not (
        "Error" in message or "Exception" in message or "Interrupt" in message or "Exit" in message
    ):
        return ""  # none of _TYPE_SUFFIXES (an `or` chain: no generator per message)
    for line in reversed(message.split("\n")):
        if "Error" in line or "Exception" in line or "Interrupt" in line or "Exit" in line:
            match = _INFERRED.match(line)
            if match:
                return match.group(1)
    return ""


def _executing_node(message: str) -> str:
    if "xecuting" not in message:
        return ""
    match = _EXECUTING.search(message[:2000])
    return match.group(1).strip() if match else ""


def _parse_body(value: Any, surface: str) -> dict[str, Any]:
    if surface not in ("validation", "http") or not isinstance(value, str):
        return {}
    text = value.strip()
    if not text.startswith("{") or len(text) > MAX_BODY_PARSE:
        return {}
    try:
        parsed = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _body_error(body: dict[str, Any], key: str) -> str:
    error = body.get("error")
    return clip(error.get(key), MAX_FIELD) if isinstance(error, dict) else ""


def _missing_class(body: dict[str, Any]) -> str:
    error = body.get("error")
    extra = error.get("extra_info") if isinstance(error, dict) else None
    return clip(extra.get("class_type"), MAX_FIELD) if isinstance(extra, dict) else ""
