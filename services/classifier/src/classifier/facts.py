"""The facts a rule is evaluated against: one per failure, or one per validation node error."""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import msgspec

from classifier.evidence import Evidence
from classifier.nodeerrors import NodeErrorView
from classifier.patterns import Vocabulary, fold
from classifier.scanner import plain

MODEL_EXT: Final = re.compile(
    r"\.(?:safetensors|sft|ckpt|pt|pth|bin|gguf|onnx|pkl|pickle|patch|engine|trt|pb|tflite|h5"
    r"|msgpack|npz)(?![\w])",
    re.IGNORECASE,
)
MEDIA_EXT: Final = re.compile(
    r"\.(?:png|jpe?g|webp|gif|bmp|tiff?|exr|mp4|webm|mov|mkv|avi|wav|mp3|flac|ogg|m4a)$",
    re.IGNORECASE,
)
MEDIA_INPUTS: Final = frozenset(("image", "video", "audio"))
"""The upload inputs of ComfyUI's LoadImage/LoadImageMask, LoadVideo and LoadAudio: a value not in
their list is an input file missing on the backend, whatever its name looks like."""
_LOADER: Final = re.compile(
    r"loader|^load(?!image|video|audio|latent|text|mask)|load[a-z0-9_]{0,40}model", re.IGNORECASE
)
"""A loader node by its class name (ComfyUI's ...Loader, Load..., custom packs' ...Load...Model)."""


class Facts(msgspec.Struct, frozen=True):
    """Structured fields, derived facts and the (folded) texts that rules test."""

    surface: str = ""
    exception_types: frozenset[str] = frozenset()
    validation_type: str = ""
    http_status: int | None = None
    node_type: str = ""
    has_node_type: bool = False
    observation: str = ""
    interrupted_by_us: bool = False
    value_kind: str = ""
    model_input: bool = False
    text: str = ""
    traceback: str = ""
    text_needles: frozenset[str] = frozenset()
    traceback_needles: frozenset[str] = frozenset()
    needles: frozenset[str] = frozenset()
    ascii: bool = False
    """Whether text and traceback are ASCII (patterns needing another character cannot match)."""
    scanned: bool = False
    """Whether the needles are what a scan of the patterns found (`Vocabulary.scanned`): the
    rules' `scanning` views decide then."""


def evidence_facts(ev: Evidence, vocabulary: Vocabulary) -> Facts:
    """Facts of the failure as a whole (`vocabulary`: the rules' needles to look for)."""
    text = f"{ev.message}\n{ev.body}" if ev.body else ev.message
    tb = ev.traceback
    text_needles = traceback_needles = None
    if plain(text) and (not tb or plain(tb)):
        text_needles = vocabulary.scanned(text)
        traceback_needles = vocabulary.scanned(tb) if tb else _NONE
    scanned = text_needles is not None and traceback_needles is not None
    if text_needles is None or traceback_needles is None:
        text_needles = vocabulary.present(fold(text))
        traceback_needles = vocabulary.present(fold(tb)) if tb else _NONE
    return Facts(  # by position: a Struct's keyword matching costs more than the rest
        ev.surface,
        _exception_types(ev),
        ev.validation_type,
        ev.http_status,
        ev.node_type,
        bool(ev.node_type),
        ev.observation,
        ev.interrupted_by_us,
        "",
        False,
        text,
        tb,
        text_needles,
        traceback_needles,
        text_needles | traceback_needles if traceback_needles else text_needles,
        scanned or (text.isascii() and tb.isascii()),
        scanned,
    )


def node_facts(ev: Evidence, node: NodeErrorView, vocabulary: Vocabulary) -> Facts:
    """Facts of one validation node error (the failure's surface and status kept)."""
    text = f"{node.message}: {node.details}" if node.details else node.message
    scanned = vocabulary.scanned(text) if plain(text) else None
    needles = vocabulary.present(fold(text)) if scanned is None else scanned
    return Facts(
        surface=ev.surface,
        validation_type=node.type,
        http_status=ev.http_status,
        node_type=node.class_type or ev.node_type,
        has_node_type=bool(node.class_type or ev.node_type),
        value_kind=value_kind(node),
        model_input=is_model_input(node),
        text=text,
        text_needles=needles,
        needles=needles,
        ascii=text.isascii(),
        scanned=scanned is not None,
    )


_NONE: Final[frozenset[str]] = frozenset()


def _exception_types(ev: Evidence) -> frozenset[str]:
    if not ev.inferred_type:
        return type_suffixes(ev.exception_type)
    if not ev.exception_type:
        return type_suffixes(ev.inferred_type)
    return type_suffixes(ev.exception_type) | type_suffixes(ev.inferred_type)


@functools.lru_cache(maxsize=1024)
def type_suffixes(path: str) -> frozenset[str]:
    """``a.b.C`` → {"a.b.C", "b.C", "C"}: a rule naming any suffix matches."""
    if not path:
        return frozenset()
    parts = path.split(".")
    return frozenset(".".join(parts[i:]) for i in range(len(parts)))


def value_kind(node: NodeErrorView) -> str:
    """What the rejected value looks like: empty, serialized, model_file, media_file, other."""
    if not node.has_value:
        return ""
    value: Any = node.value
    if isinstance(value, bool | int | float):
        return "number"
    text = str(value).strip()
    if not text:
        return "empty"
    if text[0] in "{[":
        return "serialized"
    if MODEL_EXT.search(text):
        return "model_file"
    if MEDIA_EXT.search(text) or node.input_name.lower() in MEDIA_INPUTS:
        return "media_file"
    return "other"


def is_model_input(node: NodeErrorView) -> bool:
    """A model-file input: known by the options or value (file extension), else by the loader."""
    if node.options:
        return any(MODEL_EXT.search(o) for o in node.options)
    if node.options is None and MODEL_EXT.search(node.options_text):
        return True
    kind = value_kind(node)
    if kind == "model_file":
        return True
    return kind == "other" and bool(_LOADER.search(node.class_type))
