"""User-facing messages and actionable steps per class; nothing interpolated is left unsanitised."""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Mapping
from typing import Any, Final

from contracts.taxonomy import FailureClass as C

_URL: Final = re.compile(r"\b[a-z][a-z0-9+.-]{1,15}://\S{0,300}", re.IGNORECASE)
_HOST: Final = re.compile(
    r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|(?i:localhost)|(?:[A-Za-z0-9\u0130\u0131\u017f\u212a-]{1,63}+\.){1,7}"
    r"(?i:com|net|org|io|ai|co|dev|app|cloud|local|internal|lan|cn|de|uk|jp|ru|fr|us|eu|info"
    r"|xyz|me|sh|run|tech|site|online|host))(?::\d{1,5})?\b"
)
"""A host name or IPv4 address. Case is ignored by the classes and scoped flags, not globally:
an IGNORECASE label class made a long hyphenated file name cost ~100 us (the four non-ASCII
letters are those IGNORECASE let ``[a-z]`` match)."""
_PLAIN: Final = re.compile(r"[\w ()#,+-]{0,200}")
_PATH_WORD: Final = re.compile(r"[^\s'\"]{0,300}[/\\][^\s'\"]{0,300}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")

_MESSAGES: Final[dict[C, str]] = {
    C.GPU_OOM: "The GPU ran out of memory{at}.",
    C.HOST_OOM: "The backend ran out of system memory (RAM){at}.",
    C.DISK_FULL: "The backend's disk is full.",
    C.GPU_FAULT: "The GPU failed while running the workflow (a device fault){at}.",
    C.BACKEND_UNSUPPORTED: "This backend's hardware or platform cannot run an operation of the"
    " workflow{at}.",
    C.BACKEND_WEDGED: "The backend stopped executing work and needs a restart.",
    C.BACKEND_UNREACHABLE: "The ComfyUI backend could not be reached.",
    C.BACKEND_ERROR: "The ComfyUI backend answered with an error{status}.",
    C.EXTERNAL_SERVICE_ERROR: "A node could not reach an external service{at}.",
    C.TIMEOUT: "The job did not finish in time{at}.",
    C.STALLED: "The job stopped making progress{at}.",
    C.INTERRUPTED: "The job was interrupted on the backend without a request from its owner.",
    C.MODEL_MISSING: (
        "A model the workflow needs is not available on the backend{model}.{available}"
    ),
    C.MODEL_CORRUPT: "A model file on the backend is damaged or incomplete{model}.",
    C.MODEL_INCOMPATIBLE: "A model does not fit the node or the models it is used with{at}{model}.",
    C.NODE_MISSING: "The workflow uses a node that is not installed on the backend{node}.",
    C.DEPENDENCY_MISSING: "A Python package the workflow needs is missing or of the wrong version"
    " on the backend{module}.",
    C.INPUT_MISSING: "An input file of the job is not on the backend.",
    C.INVALID_WORKFLOW: "The workflow is not valid and cannot run.",
    C.INVALID_PARAMETERS: "A parameter of the workflow is not valid{param}.",
    C.NODE_EXECUTION_ERROR: "A node failed while running the workflow{at}.",
    C.PERMISSION_DENIED: "Access was denied{at}.",
    C.OUTPUT_MISSING: "The job finished but its expected outputs were not found.",
    C.CANCELLED: "The job was cancelled.",
    C.UNKNOWN: "The job failed for a reason that could not be identified.",
}
_STEPS: Final[dict[C, tuple[str, ...]]] = {
    C.GPU_OOM: (
        "Retry with a smaller batch size, resolution or frame count, or use tiled VAE decoding.",
        "Free GPU memory (unload models) before the next attempt.",
        "Run the job on a GPU with more memory.",
    ),
    C.HOST_OOM: (
        "Retry with smaller inputs (resolution, frames, batch size).",
        "Run the job on a backend with more RAM or a larger page file.",
    ),
    C.DISK_FULL: (
        "Free disk space on that backend (outputs, temporary files, caches).",
        "Run the job on another backend.",
    ),
    C.GPU_FAULT: (
        "The backend was taken out of rotation; retry on another backend.",
        "Check the GPU's health (driver errors, ECC, temperature) before using it again.",
    ),
    C.BACKEND_UNSUPPORTED: (
        "Run the job on a backend of a different type (GPU model, driver or platform).",
        "Or change the workflow to avoid the unsupported operation or precision.",
    ),
    C.BACKEND_WEDGED: (
        "The backend was taken out of rotation; the job moves to another backend.",
        "Restart the stuck ComfyUI process.",
    ),
    C.BACKEND_UNREACHABLE: (
        "The request is retried with backoff, then on another backend.",
        "Check that ComfyUI is running and reachable from this service.",
    ),
    C.BACKEND_ERROR: (
        "The request is retried, then sent to another backend.",
        "If it persists, check the backend's server log.",
    ),
    C.EXTERNAL_SERVICE_ERROR: (
        "The job is retried with backoff; the backend itself is healthy.",
        "Check the external service's status and the node's network access or credentials.",
    ),
    C.TIMEOUT: (
        "The job is resumed; work already done is reused.",
        "Raise the job's deadline if it is expected to run longer.",
    ),
    C.STALLED: (
        "The prompt is interrupted and resumed.",
        "If it stalls again, the backend is checked and the job moved.",
    ),
    C.INTERRUPTED: ("The job is resumed automatically.",),
    C.MODEL_MISSING: (
        "Check the model's file name and subfolder in the workflow.",
        "Install the model on the backend, or let the job run where it is installed.",
        "List a fallback model in the job's policy if another one is acceptable.",
    ),
    C.MODEL_CORRUPT: (
        "Download the model file again on that backend.",
        "The job may run on another backend that has a good copy.",
    ),
    C.MODEL_INCOMPATIBLE: (
        "Use models made for the same base model (e.g. SDXL with SDXL) and the right loader.",
        "If the model is newer than the backend, update ComfyUI or use a newer backend.",
    ),
    C.NODE_MISSING: (
        "Install the custom node pack that provides this node on the backend.",
        "Or run the job on a backend that has it.",
    ),
    C.DEPENDENCY_MISSING: (
        "Install or update the node pack's requirements on the backend.",
        "Or run the job on a backend with a working environment.",
    ),
    C.INPUT_MISSING: (
        "The job's input is uploaded again and the job retried.",
        "Check the input file's name in the workflow.",
    ),
    C.INVALID_WORKFLOW: (
        "Export the workflow again in API format and check that it has an output node.",
        "Check for missing links and nodes without a class type.",
    ),
    C.INVALID_PARAMETERS: (
        "Correct the value in the workflow (type, range or one of the allowed choices).",
    ),
    C.NODE_EXECUTION_ERROR: (
        "Check the node's inputs and settings.",
        "Update the node pack, or report the error to its authors if it persists.",
    ),
    C.PERMISSION_DENIED: (
        "Check file permissions and paths on the backend.",
        "Check the credentials and access rights for the service the node uses.",
    ),
    C.OUTPUT_MISSING: (
        "The job is resumed once to produce the missing outputs.",
        "Check that the workflow's output nodes save where expected.",
    ),
    C.CANCELLED: (),
    C.UNKNOWN: (
        "The job is retried once.",
        "If it fails again, contact the operator with the job id.",
    ),
}


def compose(cls: C, features: Mapping[str, Any], hint: str = "") -> tuple[str, list[str]]:
    """The user message and actionable steps for `cls`, filled from sanitised features."""
    template = _MESSAGES[cls]
    names = _SLOT_NAMES[cls]
    message = template.format(**_slots(features, names)) if names else template
    return message, [*_STEPS[cls], *([_clean_hint(hint)] if hint else [])]


@functools.lru_cache(maxsize=1024)
def _clean_hint(hint: str) -> str:
    """A rule's hint, sanitised once (hints are a rule set's constants)."""
    return sanitize_text(hint)


def _slots(f: Mapping[str, Any], names: frozenset[str]) -> dict[str, str]:
    """The template's slots (`names`), each filled only when the template has it."""
    return {name: _SLOT_FILLERS[name](f) for name in names}


def _at(f: Mapping[str, Any]) -> str:
    node_type = _clean(f, "node_type")
    return f" in node {node_type}" if node_type else ""


def _model(f: Mapping[str, Any]) -> str:
    model = _clean(f, "model_name")
    return f": {model}" if model else ""


def _node(f: Mapping[str, Any]) -> str:
    node_class = _clean(f, "node_class")
    return f": {node_class}" if node_class else ""


def _module(f: Mapping[str, Any]) -> str:
    module = _clean(f, "module")
    return f": {module}" if module else ""


def _status(f: Mapping[str, Any]) -> str:
    status = f.get("http_status")
    return f" (HTTP {int(status)})" if isinstance(status, int) else ""


def _available(f: Mapping[str, Any]) -> str:
    """ " It has: a, b (+N more)." from the models the backend listed ("" when none)."""
    names = [sanitize(n) for n in f.get("available_models") or () if isinstance(n, str)]
    names = [n for n in names if n]
    if not names:
        return ""
    total = f.get("available_count")
    more = total - len(names) if isinstance(total, int) and total > len(names) else 0
    return f" It has: {', '.join(names)}" + (f" (+{more} more)." if more else ".")


def _clean(f: Mapping[str, Any], key: str) -> str:
    """The feature sanitised; "" when absent or empty (what `sanitize` gives them)."""
    value = f.get(key)
    return sanitize(value) if value else ""


def _param(f: Mapping[str, Any]) -> str:
    if "input_name" not in f:
        return ""
    name = sanitize(f.get("input_name"))
    if not name:
        return ""
    bounds = [f"{k} {f[k]:g}" for k in ("min", "max") if isinstance(f.get(k), int | float)]
    node_type = sanitize(f.get("node_type"))
    where = f" of node {node_type}" if node_type else ""
    return f": input {name}{where}" + (f" ({', '.join(bounds)})" if bounds else "")


def sanitize(value: Any, limit: int = 80) -> str:
    """Text safe to show a user: no paths, URLs, hosts or control characters; short."""
    if not isinstance(value, str):
        return ""
    if _PLAIN.fullmatch(value):
        return value if len(value) <= limit else value[: limit - 1] + "…"
    text = _CONTROL.sub(" ", value[:2000])
    if "://" in text:  # every URL has it: the regex would only try each word start
        text = _URL.sub("<url>", text)
    text = re.split(r"[/\\]", text)[-1]
    text = _HOST.sub("<host>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sanitize_text(text: str, limit: int = 300) -> str:
    """A sentence safe to show: every path-like word reduced to its last part, no URLs or hosts."""
    text = _URL.sub("<url>", _CONTROL.sub(" ", text[:2000]))
    text = _PATH_WORD.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)
    text = " ".join(_HOST.sub("<host>", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SLOT_FILLERS: Final[dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "at": _at,
    "model": _model,
    "node": _node,
    "module": _module,
    "status": _status,
    "param": _param,
    "available": _available,
}
_SLOT_NAMES: Final[dict[C, frozenset[str]]] = {
    cls: frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
    for cls, text in _MESSAGES.items()
}
"""The slots each class's message has (a message without slots is used as it is)."""
