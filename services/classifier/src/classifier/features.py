"""Feature extraction: the numbers and names recovery acts on (OOM bytes, model, node, bounds)."""

from __future__ import annotations

import re
from typing import Any, Final

from classifier.evidence import Evidence
from classifier.facts import MODEL_EXT, is_model_input
from classifier.nodeerrors import NodeErrorView
from classifier.patterns import fold
from contracts.taxonomy import FailureClass

_NUM: Final = r"(\d{1,20}(?:\.\d{1,12})?)\s{0,2}(bytes|[kmgtp]i?b)\b"
_UNITS: Final = {"bytes": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_OOM_FIELDS: Final = (
    ("requested_bytes", "tried to allocate", r"tried to allocate\s{1,3}" + _NUM),
    ("requested_bytes", "requested", r"requested\s{0,3}:\s{0,3}" + _NUM),
    ("requested_bytes", "you tried to allocate", r"you tried to allocate (\d{1,20}) (bytes)"),
    ("requested_bytes", "unable to allocate", r"unable to allocate " + _NUM + r" for an array"),
    ("requested_bytes", "invalid buffer size", r"invalid buffer size:\s{0,3}" + _NUM),
    ("requested_bytes", "allocate tensor", r"could not allocate tensor with (\d{1,20}) (bytes)"),
    ("total_bytes", "total capac", r"total capac[a-z]{0,3}y? of " + _NUM),
    ("total_bytes", "total capacity", _NUM + r" total capacity"),
    ("total_bytes", "device limit", r"device limit\s{0,3}:\s{0,3}" + _NUM),
    ("total_bytes", "max allowed", r"max allowed:\s{0,3}" + _NUM),
    ("free_bytes", "of which", r"of which " + _NUM + r" (?:is )?free"),
    ("free_bytes", " free;", _NUM + r" free;"),
    ("free_bytes", "according to cuda", r"free \(according to cuda\)\s{0,3}:\s{0,3}" + _NUM),
    ("allocated_bytes", "allocated by pytorch", _NUM + r" is allocated by pytorch"),
    ("allocated_bytes", "already allocated", _NUM + r" already allocated"),
    ("allocated_bytes", "currently allocated", r"currently allocated\s{0,3}:\s{0,3}" + _NUM),
    ("allocated_bytes", "mps allocated", r"mps allocated:\s{0,3}" + _NUM),
    ("reserved_bytes", "reserved by pytorch", _NUM + r" is reserved by pytorch but unallocated"),
    ("reserved_bytes", "reserved in total", _NUM + r" reserved in total by pytorch"),
)
_OOM_PATTERNS: Final = tuple(
    (key, word, re.compile(p), p.startswith(_NUM)) for key, word, p in _OOM_FIELDS
)
"""Searched in the lower-cased text (an IGNORECASE regex costs several times more there); those
that start with the number only near their word (`_near`)."""
_NUM_SPAN: Final = 45
"""More than the longest number, spaces and unit `_NUM` reads (20 + 1 + 12 + 2 + 5)."""
_TAIL: Final = 40
"""More than any pattern reads after its word."""
_GPU_INDEX: Final = re.compile(r"\b(?:gpu|device|cuda:?)\s{0,2}(\d{1,2})\b", re.IGNORECASE)
_MPS: Final = re.compile(r"\bmps\b|metal", re.IGNORECASE)
_CPU: Final = re.compile(r"defaultcpuallocator|for an array|\bcpu\b", re.IGNORECASE)
_MODEL_IN_FOLDER: Final = re.compile(
    r"model in folder '([^'\n]{1,100})' with filename '([^'\n]{1,300})'", re.IGNORECASE
)
_NODE_MISSING: Final = (
    re.compile(r"cannot execute because (?:a )?node ([^\n]{1,200}?) does not exist", re.IGNORECASE),
    re.compile(r"node '([^'\n]{1,200})' not found\. the custom node", re.IGNORECASE),
    re.compile(r"node_class_mappings\[[^\n]{0,80}\n?[^\n]{0,20}keyerror: '([^'\n]{1,200})'", re.I),
)
_MODULE: Final = re.compile(
    r"no module named '([\w.]{1,100})'|cannot import name '(\w{1,100})'", re.I
)
_FOLDERS: Final = {
    "ckpt_name": "checkpoints", "lora_name": "loras", "vae_name": "vae",
    "control_net_name": "controlnet", "unet_name": "diffusion_models", "clip_name": "text_encoders",
    "clip_name1": "text_encoders", "clip_name2": "text_encoders", "clip_name3": "text_encoders",
    "text_encoder": "text_encoders", "style_model_name": "style_models", "gligen_name": "gligen",
    "hypernetwork_name": "hypernetworks", "model_name": "upscale_models",
    "ipadapter_file": "ipadapter", "instantid_file": "instantid", "config_name": "configs",
    "audio_encoder_name": "audio_encoders", "clip_vision": "clip_vision",
}  # fmt: skip
_BY_CLASS: Final = (
    ("lora", "loras"), ("vae", "vae"), ("controlnet", "controlnet"), ("unet", "diffusion_models"),
    ("clipvision", "clip_vision"), ("clip", "text_encoders"), ("upscale", "upscale_models"),
    ("checkpoint", "checkpoints"), ("ipadapter", "ipadapter"), ("stylemodel", "style_models"),
)  # fmt: skip
_MEMORY: Final = frozenset((FailureClass.GPU_OOM, FailureClass.HOST_OOM))
_MODELS: Final = frozenset(
    (FailureClass.MODEL_MISSING, FailureClass.MODEL_CORRUPT, FailureClass.MODEL_INCOMPATIBLE)
)

AVAILABLE_SHOWN: Final = 10
"""How many of the models a backend has are named in a MODEL_MISSING verdict."""


def extract(cls: FailureClass, ev: Evidence, node: NodeErrorView | None) -> dict[str, Any]:
    """The features of a failure classified as `cls`; only what was found."""
    found: dict[str, Any] = common(ev, node)
    if cls in _MEMORY:
        found |= memory(_all_text(ev), cls)
    elif cls in _MODELS:
        found |= model(ev, node)
    elif cls == FailureClass.NODE_MISSING:
        found |= node_class(ev, _all_text(ev))
    elif cls == FailureClass.INVALID_PARAMETERS and node is not None:
        found |= parameters(node)
    elif cls == FailureClass.DEPENDENCY_MISSING:
        found |= module(_all_text(ev))
    return found


def _all_text(ev: Evidence) -> str:
    return f"{ev.message}\n{ev.body}\n{ev.traceback}"


def common(ev: Evidence, node: NodeErrorView | None) -> dict[str, Any]:
    """Always when known: ComfyUI version, device type, node type and id, HTTP status."""
    pairs = (
        ("comfyui_version", ev.comfyui_version),
        ("device_type", ev.device_type),
        ("node_type", (node.class_type if node else "") or ev.node_type),
        ("node_id", (node.node_id if node else "") or ev.node_id),
        ("http_status", ev.http_status),
    )
    return {key: value for key, value in pairs if value not in ("", None)}


def memory(text: str, cls: FailureClass) -> dict[str, Any]:
    """Bytes requested/total/free/allocated/reserved as printed, and the device."""
    found: dict[str, Any] = {}
    folded = text.lower()
    for key, word, pattern, leading in _OOM_PATTERNS:
        if key in found or word not in folded:
            continue
        match = _near(pattern, folded, word) if leading else pattern.search(folded)
        if match:
            found[key] = to_bytes(match.group(1), match.group(2))
    total, free = found.get("total_bytes"), found.get("free_bytes")
    if free is not None and total is not None and free > total:
        del found["free_bytes"]  # an unsigned underflow some drivers print
    device = _device(text, cls)
    return found | ({"device": device} if device else {})


def _near(pattern: re.Pattern[str], folded: str, word: str) -> re.Match[str] | None:
    """`pattern.search(folded)` for a pattern that starts with a number and holds `word`: tried
    around each occurrence of the word in turn (from a number's start on every position of a
    long text, the regex costs tens of microseconds)."""
    start = folded.find(word)
    while start >= 0:
        match = pattern.search(folded, max(0, start - _NUM_SPAN), start + len(word) + _TAIL)
        if match:
            return match
        start = folded.find(word, start + 1)
    return None


def to_bytes(number: str, unit: str) -> int:
    """``"2.00", "GiB"`` → 2147483648 (PyTorch prints KB/MB/GB in binary units too)."""
    lowered = unit.lower()
    return round(float(number) * _UNITS["bytes" if lowered == "bytes" else lowered[0]])


def _device(text: str, cls: FailureClass) -> str:
    if cls == FailureClass.HOST_OOM:
        return "CPU"
    folded = fold(text)  # each regex runs only when a literal it needs is there
    cpu = "cpu" in folded or "for an array" in folded
    if cpu and _CPU.search(text) and "gpu" not in text.lower():
        return "CPU"
    if ("mps" in folded or "metal" in folded) and _MPS.search(text):
        return "MPS"
    if not ("gpu" in folded or "device" in folded or "cuda" in folded):
        return ""
    match = _GPU_INDEX.search(text)
    return f"GPU {int(match.group(1))}" if match else ""


def model(ev: Evidence, node: NodeErrorView | None) -> dict[str, Any]:
    """The model's name, folder and input, from the node error or the message."""
    if node is not None and node.input_name:
        return _node_model(node)
    for match in reversed(list(_MODEL_IN_FOLDER.finditer(ev.message))):
        if "{" not in match.group(2):  # not the f-string of the raising source line
            return {"model_folder": match.group(1), "model_name": match.group(2)}
    found = _input_model(ev)
    if "model_name" not in found:
        found["model_name"] = _first_model_file(ev.message)
    if "model_folder" not in found:
        found["model_folder"] = _folder_of_words(ev.message[:300]) or _folder_of_class(ev.node_type)
    return {k: v for k, v in found.items() if v}


def _input_model(ev: Evidence) -> dict[str, Any]:
    """The failing node's model input, from its current inputs (execution errors)."""
    for name, value in ev.current_inputs:
        if name in _FOLDERS or MODEL_EXT.search(value):
            folder = _FOLDERS.get(name) or _folder_of_class(ev.node_type)
            return {"input_name": name, "model_name": value, "model_folder": folder}
    return {}


def _node_model(node: NodeErrorView) -> dict[str, Any]:
    found: dict[str, Any] = {"input_name": node.input_name}
    if node.has_value and isinstance(node.value, str):
        found["model_name"] = node.value
    folder = _FOLDERS.get(node.input_name) or _folder_of_class(node.class_type)
    if folder and (is_model_input(node) or node.input_name in _FOLDERS):
        found["model_folder"] = folder
    if node.options and is_model_input(node):
        # what the backend does have (ComfyUI lists it in the 400 body): a user who typed
        # the name wrong sees the right one; bounded, the list can hold thousands
        found["available_models"] = list(node.options[:AVAILABLE_SHOWN])
        found["available_count"] = len(node.options)
    return found


def _folder_of_class(class_type: str) -> str:
    return _folder_of_words(class_type) if "loader" in class_type.lower() else ""


def _folder_of_words(text: str) -> str:
    lowered = text.lower().replace("_", "").replace(" ", "").replace("-", "")
    return next((folder for word, folder in _BY_CLASS if word in lowered), "")


def _first_model_file(text: str) -> str:
    match = MODEL_EXT.search(text)
    if not match:
        return ""
    start = max(text.rfind(c, 0, match.start()) for c in "'\" \n\t/\\:") + 1
    return text[start : match.end()][:300]


def node_class(ev: Evidence, text: str) -> dict[str, Any]:
    """The missing node class, from the reply's extra_info or the message."""
    if ev.missing_class:
        return {"node_class": ev.missing_class}
    for pattern in _NODE_MISSING:
        match = pattern.search(text)
        if match:
            return {"node_class": match.group(1).strip()}
    return {}


def parameters(node: NodeErrorView) -> dict[str, Any]:
    """Node, input, value and bounds of an invalid parameter; clampable for numeric bounds."""
    found: dict[str, Any] = {"node_id": node.node_id, "input_name": node.input_name}
    if node.has_value:
        found["value"] = node.value
    found |= {k: v for k, v in (("min", node.minimum), ("max", node.maximum)) if v is not None}
    found["clampable"] = clampable(node)
    return {k: v for k, v in found.items() if v != ""}


def clampable(node: NodeErrorView) -> bool:
    """A numeric value outside a known numeric min/max: CLAMP_PARAMS can fix it."""
    bound = node.minimum if node.type == "value_smaller_than_min" else node.maximum
    numeric = isinstance(node.value, int | float) and not isinstance(node.value, bool)
    return (
        node.type in ("value_smaller_than_min", "value_bigger_than_max")
        and bound is not None
        and numeric
    )


def module(text: str) -> dict[str, Any]:
    """The missing module or name, when the text says it."""
    match = _MODULE.search(text)
    return {"module": match.group(1) or match.group(2)} if match else {}
