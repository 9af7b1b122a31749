"""Validation node errors parsed from report text, as ComfyUI logs it or a front end shows it."""

from __future__ import annotations

import re
from typing import Final

import msgspec.structs

from classifier.nodeerrors import MAX_NODE_ERRORS, NodeErrorView, ident, not_in_view, number
from classifier.patterns import fold

MAX_LINES: Final = 400
MAX_LINE: Final = 3000
_FIELD: Final = 300
_HEADER: Final = re.compile(r"^[^*\n]{0,60}\*\s{0,4}([^\n]{1,150}?)(?:\s+([\w:#.-]{1,60}))?:\s*$")
_BARE_HEADER: Final = re.compile(r"^\s{0,8}([A-Za-z][\w .()/|-]{0,80}):\s*$")
_BOUND: Final = re.compile(
    r"value (\S{1,60}) (smaller than min|bigger than max) of (\S{1,60}?)(?::\s*([^\n]{0,200}))?$",
    re.IGNORECASE | re.MULTILINE,
)
_KNOWN: Final = re.compile(
    r"(value not in list|required input is missing|return type mismatch between linked nodes"
    r"|failed to convert an input value to an? \w{1,20} value|custom validation failed for node"
    r"|exception when validating inner node|exception when validating node"
    r"|bad linked input, must be a length-2 list of \[node_id, slot_index\]"
    r"|dependency cycle detected)(?::\s*([^\n]{0,2000}))?",
    re.IGNORECASE,
)
_TYPES: Final = {
    "value not in list": "value_not_in_list",
    "required input is missing": "required_input_missing",
    "return type mismatch between linked nodes": "return_type_mismatch",
    "custom validation failed for node": "custom_validation_failed",
    "exception when validating inner node": "exception_during_inner_validation",
    "exception when validating node": "exception_during_validation",
    "dependency cycle detected": "dependency_cycle",
    "smaller than min": "value_smaller_than_min",
    "bigger than max": "value_bigger_than_max",
}
_FLATTENED: Final = re.compile(r"(\S{1,80}): - (?=[A-Z])")
"""A report whose lines were joined ("… CheckpointLoaderSimple: - Value not in list: …")."""
_KNOWN_WORDS: Final = (
    "value not in list",
    "required input is missing",
    "return type mismatch",
    "failed to convert an input",
    "custom validation failed",
    "exception when validating",
    "bad linked input",
    "dependency cycle detected",
    "than min of",
    "than max of",
)


def from_text(text: str, surface: str) -> tuple[NodeErrorView, ...]:
    """Views parsed from a validation report as ComfyUI logs it or a front end shows it."""
    folded = text.lower()
    known = _has_known_word(folded)
    if "' not in " not in text and not known:
        return ()
    marked = known or surface == "validation" or "validat" in folded
    views: list[NodeErrorView] = []
    node, pending = ("", ""), ""
    if ": - " in text:
        text = _FLATTENED.sub("\n\\1:\n- ", text)
    for full_line in text.splitlines()[:MAX_LINES]:
        line = full_line[:MAX_LINE]
        header = _header(line)
        if header is not None:
            node = header
            continue
        view, pending = _parse_line(line, pending)
        if view is not None and marked:
            views.append(_with_node(view, node))
        if len(views) >= MAX_NODE_ERRORS:
            break
    return tuple(views)


def _has_known_word(folded: str) -> bool:
    """Whether a report phrase occurs (substring tests: faster here than one regex or any())."""
    for word in _KNOWN_WORDS:  # noqa: SIM110 - a plain loop: any() over a generator is slower
        if word in folded:
            return True
    return False


def _header(line: str) -> tuple[str, str] | None:
    if line.rstrip().endswith(":") and "' not in " not in line:
        match = _HEADER.match(line) or _BARE_HEADER.match(line)
        if match and not _KNOWN.search(line):
            groups = match.groups()
            return (groups[0].strip(), (groups[1] or "") if len(groups) > 1 else "")
    return None


def _parse_line(line: str, pending: str) -> tuple[NodeErrorView | None, str]:
    if _has_known_word(fold(line)):  # every _BOUND or _KNOWN match holds one of the words
        bound = _BOUND.search(line)
        if bound:
            return _bound_view(bound), ""
        known = _KNOWN.search(line)
        if known:
            kind = _kind(known.group(1))
            details = (known.group(2) or "").strip()
            if not details:
                return None, kind
            return _typed_view(kind, known.group(1), details), ""
    if "' not in " in line:
        return not_in_view(line.strip().lstrip("-* ").strip(), pending or "value_not_in_list"), ""
    return None, pending


def _kind(message: str) -> str:
    lowered = message.lower()
    if lowered.startswith("failed to convert"):
        return "invalid_input_type"
    if lowered.startswith("bad linked input"):
        return "bad_linked_input"
    return _TYPES.get(lowered, "")


def _typed_view(kind: str, message: str, details: str) -> NodeErrorView | None:
    if kind == "value_not_in_list":
        return not_in_view(details, kind, message)
    name = re.split(r"[,:\s]", details, maxsplit=1)[0]
    return NodeErrorView(
        type=kind, message=message, details=details[:_FIELD], input_name=ident(name)
    )


def _bound_view(match: re.Match[str]) -> NodeErrorView:
    value, relation, limit = (
        number(match.group(1)),
        match.group(2).lower(),
        number(match.group(3)),
    )
    kind = _TYPES[relation]
    return NodeErrorView(
        type=kind,
        message=match.group(0).split(":")[0][:_FIELD],
        details=(match.group(4) or "").strip()[:_FIELD],
        input_name=ident((match.group(4) or "").strip()),
        value=value,
        has_value=value is not None,
        minimum=limit if kind == "value_smaller_than_min" else None,
        maximum=limit if kind == "value_bigger_than_max" else None,
    )


def _with_node(view: NodeErrorView, node: tuple[str, str]) -> NodeErrorView:
    class_type, node_id = node
    if class_type.startswith("("):
        class_type = ""
    return msgspec.structs.replace(view, class_type=class_type[:_FIELD], node_id=node_id)
