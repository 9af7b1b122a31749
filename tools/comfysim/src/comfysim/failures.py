"""Exceptions raised inside simulated nodes, with the type, text and traceback of real ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from comfysim import tracebacks as tb
from comfysim.memory import OOM_TIPS, OomReport

CUDA_ILLEGAL_ACCESS: Final = (
    "CUDA error: an illegal memory access was encountered\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, "
    "so the stacktrace below might be incorrect.\n"
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
    "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions."
)


class Interrupted(Exception):
    """The interrupt flag was seen at a node start or in a progress hook."""


@dataclass
class NodeFailure(Exception):
    """An exception inside a node: type name, str(exception), traceback frames, and tips."""

    exception_type: str
    message: str
    traceback: list[str]
    tips: str = ""
    oom: OomReport | None = None

    def exception_message(self) -> str:
        """ComfyUI's `exception_message`: str(ex), a newline, then the tips."""
        return f"{self.message}\n{self.tips}"


def gpu_oom(report: OomReport, frames: tuple[tb.Frame, ...]) -> NodeFailure:
    """torch.OutOfMemoryError with ComfyUI's OOM tips."""
    return NodeFailure(
        "torch.OutOfMemoryError",
        report.torch_message(),
        tb.node_traceback(frames),
        OOM_TIPS,
        report,
    )


def host_oom(requested: int, frames: tuple[tb.Frame, ...]) -> NodeFailure:
    """A CPU allocation Linux refused (captured in 04_oom_cpu): a plain RuntimeError, no tips."""
    message = (
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
        f"you tried to allocate {requested} bytes. Error code 12 (Cannot allocate memory)"
    )
    return NodeFailure("RuntimeError", message, tb.node_traceback(frames))


def disk_full() -> NodeFailure:
    """SaveImage writing to a full disk."""
    return NodeFailure(
        "OSError", "[Errno 28] No space left on device", tb.node_traceback(tb.SAVE_IMAGE_FRAMES)
    )


def corrupt_model() -> NodeFailure:
    """A loader reading a safetensors file whose header is garbage."""
    return NodeFailure(
        "safetensors._safetensors_rust.SafetensorError",
        "Error while deserializing header: HeaderTooLarge",
        tb.node_traceback(tb.CHECKPOINT_LOAD_FRAMES),
    )


def device_fault() -> NodeFailure:
    """A CUDA illegal memory access inside a kernel."""
    return NodeFailure("RuntimeError", CUDA_ILLEGAL_ACCESS, tb.node_traceback(tb.SAMPLER_FRAMES))


def node_error(class_type: str, params: dict[str, Any]) -> NodeFailure:
    """A plain exception inside a node (ValueError unless the fault says otherwise)."""
    return NodeFailure(
        str(params.get("exception_type", "ValueError")),
        str(params.get("message", "too many values to unpack (expected 2)")),
        tb.node_traceback(tb.generic_node_frames(class_type)),
    )


def save_outside_output() -> NodeFailure:
    """SaveImage given a prefix that leaves the output folder (captured in 03a)."""
    message = (
        "**** ERROR: Saving image outside the output folder is not allowed.\n"
        " full_output_folder: <path>\n"
        "         output_dir: <path>/output"
    )
    return NodeFailure("Exception", message, tb.node_traceback(tb.SAVE_PATH_FRAMES))


def _tensor_text(shape: dict[str, Any]) -> str:
    rows = "[[[[0.5000, 0.5000, 0.5000],\n          ...,\n          [0.5000, 0.5000, 0.5000]]]]"
    size = [shape.get("batch", 1), shape.get("height", 512), shape.get("width", 512), 3]
    return f"tensor({rows})  # shape {size}"


_OBJECT_TEXT: Final = {
    "MODEL": "<comfy.model_patcher.ModelPatcher object at 0x7f2c1c3b5e50>",
    "CLIP": "<comfy.sd.CLIP object at 0x7f2c1c3b6010>",
    "VAE": "<comfy.sd.VAE object at 0x7f2c1c3b61d0>",
}


def format_linked(output_type: Any, shape: dict[str, Any]) -> str:
    """str() of a value arriving over a link (tensors abbreviated, objects as their repr)."""
    if output_type == "IMAGE":
        return _tensor_text(shape)
    if output_type == "LATENT":
        return "{'samples': " + _tensor_text(shape) + "}"
    if output_type == "CONDITIONING":
        return "[[tensor([[[-0.3885, 0.0230, ...]]]), {'pooled_output': tensor([[...]])}]]"
    return _OBJECT_TEXT.get(output_type, f"<{output_type} object at 0x7f2c1c3b6390>")


def format_literal(value: Any) -> Any:
    """ComfyUI's format_value: JSON scalars as they are, anything else as str()."""
    if value is None or isinstance(value, int | float | bool | str):
        return value
    return str(value)
