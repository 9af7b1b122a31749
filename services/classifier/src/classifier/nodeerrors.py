"""Validation node errors, the same whether they come as structs or in a /prompt reply body."""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec
import msgspec.structs

MAX_NODE_ERRORS: Final = 32
_FIELD: Final = 300
_IDENT: Final = re.compile(r"[A-Za-z_][\w.-]{0,80}")
_SURROGATES: Final = re.compile("[\ud800-\udfff]")
_QUOTED: Final = re.compile(r"'([^'\n]{0,300})'")


class NodeErrorView(msgspec.Struct, frozen=True):
    """One validation error of one node, with the value, options and bounds it carried."""

    node_id: str = ""
    class_type: str = ""
    type: str = ""
    message: str = ""
    details: str = ""
    input_name: str = ""
    value: Any = None
    has_value: bool = False
    options: tuple[str, ...] | None = None
    options_text: str = ""
    minimum: float | None = None
    maximum: float | None = None


def from_structured(raw: Any) -> tuple[NodeErrorView, ...]:
    """Views of FailureEvidence.node_errors (NodeError structs or mappings)."""
    if not isinstance(raw, list | tuple) or not raw:
        return ()
    views = (_from_record(_record(item)) for item in raw[:MAX_NODE_ERRORS])
    return tuple(v for v in views if v.type or v.message)


def from_body(body: dict[str, Any]) -> tuple[NodeErrorView, ...]:
    """Views of a /prompt reply's ``node_errors`` object."""
    nodes = body.get("node_errors")
    if not isinstance(nodes, dict):
        return ()
    records: list[dict[str, Any]] = []
    for node_id, node in list(nodes.items())[:MAX_NODE_ERRORS]:
        if not isinstance(node, dict) or not isinstance(node.get("errors"), list):
            continue
        for error in node["errors"][:MAX_NODE_ERRORS]:
            if isinstance(error, dict):
                extra = error.get("extra_info")
                extra = extra if isinstance(extra, dict) else {}
                records.append(
                    {**extra, **error, "node_id": node_id, "class_type": node.get("class_type")}
                )
    return tuple(_from_record(r) for r in records[:MAX_NODE_ERRORS])


def not_in_view(
    details: str, kind: str, message: str = "Value not in list"
) -> NodeErrorView | None:
    """A view of ``<input>: '<value>' not in [<options>]`` (None if `details` is not that)."""
    start, end = details.find(": '"), details.rfind("' not in ")
    if start < 0 or end < start + 2:
        return None
    name = ident(details[:start].strip())
    if not name:
        return None
    options_text = details[end + 9 : end + 9 + 4000]
    return NodeErrorView(
        type=kind,
        message=message,
        details=details[:_FIELD],
        input_name=name,
        value=details[start + 3 : end][:_FIELD],
        has_value=True,
        options=_options(options_text),
        options_text=options_text,
    )


def _options(text: str) -> tuple[str, ...] | None:
    if text.startswith("[]"):
        return ()
    if not text.startswith("[") or "]" not in text:
        return None
    return tuple(_QUOTED.findall(text[: text.find("]") + 1])[:200])


def _record(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    fields = getattr(item, "__struct_fields__", None)
    return {name: getattr(item, name, None) for name in fields} if fields else {}


def _from_record(rec: dict[str, Any]) -> NodeErrorView:
    kind = _text(rec.get("type"))
    details = _text(rec.get("details"))
    config = rec.get("input_config")
    options, bounds = _config(config)
    has_value = "received_value" in rec and rec.get("received_value") is not None
    view = NodeErrorView(
        node_id=_text(rec.get("node_id")),
        class_type=_text(rec.get("class_type")),
        type=kind,
        message=_text(rec.get("message")),
        details=details,
        input_name=ident(_text(rec.get("input_name")))
        or ident(re.split(r"[,:\s]", details, maxsplit=1)[0]),
        value=_scalar(rec.get("received_value")),
        has_value=has_value,
        options=options,
        options_text=" ".join(options or ())[:4000],
        minimum=bounds[0],
        maximum=bounds[1],
    )
    if kind == "value_not_in_list" and not has_value:
        parsed = not_in_view(details, kind, view.message)
        if parsed is not None:
            return msgspec.structs.replace(parsed, node_id=view.node_id, class_type=view.class_type)
    return view


def _config(config: Any) -> tuple[tuple[str, ...] | None, tuple[float | None, float | None]]:
    if not isinstance(config, list | tuple) or not config:
        return None, (None, None)
    head, spec = config[0], (config[1] if len(config) > 1 and isinstance(config[1], dict) else {})
    options: tuple[str, ...] | None = None
    if isinstance(head, list | tuple):
        options = tuple(_text(o) for o in head[:200])
    elif isinstance(spec.get("options"), list | tuple):
        options = tuple(_text(o) for o in spec["options"][:200])
    return options, (number(spec.get("min")), number(spec.get("max")))


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _valid(value[:_FIELD])
    return _valid(repr(value)[:_FIELD]) if isinstance(value, dict | list | tuple) else None


def _valid(text: str) -> str:
    """`text` without lone surrogates (they cannot be encoded as UTF-8)."""
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def number(value: Any) -> float | None:
    """A finite number from a JSON value or its text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if abs(value) < 1e300 else None
    if isinstance(value, str):
        try:
            number = float(value.rstrip(".,;"))
        except ValueError:
            return None
        return number if abs(number) < 1e300 else None
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return _valid(value[:_FIELD])
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def ident(text: str) -> str:
    """`text` if it looks like an input name, else the empty string."""
    return text if _IDENT.fullmatch(text) else ""
