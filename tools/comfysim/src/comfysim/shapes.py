"""What flows along the graph's links, roughly: image size, batch, model name and step count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from comfysim.graph import Prompt, is_link

Shape = dict[str, Any]
"""Keys: width, height, batch (pixels and images), model (file name), steps."""

_DIM_INPUTS: Final = (
    "samples",
    "latent_image",
    "latent",
    "pixels",
    "image",
    "images",
    "image_target",
)
_MODEL_INPUTS: Final = ("ckpt_name", "unet_name")


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _priority(name: str) -> int:
    return _DIM_INPUTS.index(name) if name in _DIM_INPUTS else len(_DIM_INPUTS)


def _merged_inputs(node: dict[str, Any], shape_of: Callable[[str], Shape]) -> Shape:
    merged: Shape = {}
    linked = [(name, v[0]) for name, v in node.get("inputs", {}).items() if is_link(v)]
    for _, source in sorted(linked, key=lambda item: _priority(item[0])):
        for key, value in shape_of(source).items():
            merged.setdefault(key, value)
    return merged


def _batch_slice(shape: Shape, inputs: dict[str, Any]) -> None:
    batch = shape.get("batch", 1)
    index = min(batch - 1, max(0, _int(inputs.get("batch_index"), 0)))
    shape["batch"] = max(1, min(batch - index, _int(inputs.get("length"), 1)))


def _resize(shape: Shape, inputs: dict[str, Any]) -> None:
    if "scale_by" in inputs:
        scale = float(inputs.get("scale_by") or 1.0)
        shape["width"] = int(shape.get("width", 512) * scale)
        shape["height"] = int(shape.get("height", 512) * scale)
        return
    width, height = _int(inputs.get("width"), 0), _int(inputs.get("height"), 0)
    old_w, old_h = shape.get("width", 512), shape.get("height", 512)
    if width and not height:
        height = max(1, old_h * width // max(1, old_w))
    if height and not width:
        width = max(1, old_w * height // max(1, old_h))
    shape["width"], shape["height"] = width or old_w, height or old_h


def _apply_class_rules(class_type: str, inputs: dict[str, Any], shape: Shape) -> None:
    if class_type.startswith("Empty") and "width" in inputs and "height" in inputs:
        shape["width"], shape["height"] = _int(inputs["width"], 512), _int(inputs["height"], 512)
        shape["batch"] = _int(inputs.get("batch_size"), 1)
    elif class_type in ("LatentFromBatch", "ImageFromBatch"):
        _batch_slice(shape, inputs)
    elif class_type in ("RepeatLatentBatch", "RepeatImageBatch"):
        shape["batch"] = shape.get("batch", 1) * _int(inputs.get("amount"), 1)
    elif class_type in ("LatentUpscale", "LatentUpscaleBy", "ImageScale", "ImageScaleBy"):
        _resize(shape, inputs)
    for name in _MODEL_INPUTS:
        if isinstance(inputs.get(name), str):
            shape["model"] = inputs[name]
    if "steps" in inputs and not is_link(inputs["steps"]):
        shape["steps"] = _steps(class_type, inputs)


def _steps(class_type: str, inputs: dict[str, Any]) -> int:
    steps = _int(inputs.get("steps"), 20)
    if class_type == "KSamplerAdvanced":
        end = min(steps, _int(inputs.get("end_at_step"), steps))
        return max(0, end - _int(inputs.get("start_at_step"), 0))
    return steps


def infer_shapes(prompt: Prompt, image_size: Callable[[str], tuple[int, int]]) -> dict[str, Shape]:
    """The shape reaching every node's output; `image_size` sizes LoadImage files."""
    memo: dict[str, Shape] = {}

    def shape_of(node_id: str, visiting: frozenset[str] = frozenset()) -> Shape:
        if node_id in memo:
            return memo[node_id]
        node = prompt.get(node_id)
        if not isinstance(node, dict) or node_id in visiting:
            return {}
        shape = _merged_inputs(node, lambda src: shape_of(src, visiting | {node_id}))
        class_type, inputs = str(node.get("class_type")), node.get("inputs", {})
        if class_type in ("LoadImage", "LoadImageMask"):
            width, height = image_size(str(inputs.get("image", "")))
            shape.update(width=width, height=height, batch=1)
        _apply_class_rules(class_type, inputs, shape)
        memo[node_id] = shape
        return shape

    return {node_id: shape_of(node_id) for node_id in prompt}
