"""What a simulated backend is made of: `SimBackendSpec`, and the `FaultSpec`s it can be given."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Final

GIB: Final = 2**30

FAULT_KINDS: Final = frozenset(
    {
        "stall",
        "crash",
        "refuse",
        "reset",
        "http500",
        "ws_slow",
        "ws_drop",
        "disk_full",
        "corrupt_model",
        "missing_model",
        "missing_node",
        "device_fault",
        "wedged",
        "oom",
        "host_oom",
        "node_error",
        "interrupt",
    }
)
"""Every fault kind the simulator can inject."""

MATCH_KEYS: Final = frozenset(
    {"prompt_id", "class_type", "filename_prefix_contains", "ckpt_contains"}
)
"""The keys a fault's `match` may use."""


def default_models() -> dict[str, list[str]]:
    """The model files a backend has unless its spec says otherwise."""
    return {
        "checkpoints": [
            "sd_xl_base_1.0.safetensors",
            "v1-5-pruned-emaonly.safetensors",
            "flux1-dev-fp8.safetensors",
        ],
        "loras": ["detail_tweaker_xl.safetensors", "lcm_lora_sdxl.safetensors"],
        "vae": ["sdxl_vae.safetensors"],
        "upscale_models": ["RealESRGAN_x4plus.pth", "4x-UltraSharp.pth"],
        "text_encoders": ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
        "diffusion_models": ["flux1-dev.safetensors", "flux1-schnell.safetensors"],
    }


@dataclass
class FaultSpec:
    """One fault: its kind, how many times it fires (-1 = forever), what it matches, its params."""

    kind: str
    times: int = 1
    match: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")
        unknown = set(self.match) - MATCH_KEYS
        if unknown:
            raise ValueError(f"unknown match keys {sorted(unknown)}; known: {sorted(MATCH_KEYS)}")
        if not isinstance(self.times, int) or self.times == 0 or self.times < -1:
            raise ValueError("times must be a positive int or -1 (forever)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultSpec:
        """Build a fault from its JSON form (the body of POST /sim/faults)."""
        if not isinstance(data, dict) or "kind" not in data:
            raise ValueError("a fault is an object with at least a 'kind'")
        return cls(
            kind=data["kind"],
            times=data.get("times", 1),
            match=dict(data.get("match") or {}),
            params=dict(data.get("params") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of this fault."""
        return dataclasses.asdict(self)


@dataclass
class SimBackendSpec:
    """One simulated ComfyUI server: identity, device, node classes, model files, speed, faults."""

    id: str
    port: int = 0
    comfyui_version: str = "0.33.0"
    device_name: str = "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync"
    device_type: str = "cuda"
    vram_total: int = 24 * GIB
    ram_total: int = 64 * GIB
    node_classes: list[str] | None = None
    exclude_nodes: list[str] = field(default_factory=list)
    extra_nodes: list[str] = field(default_factory=list)
    models: dict[str, list[str]] = field(default_factory=default_models)
    corrupt_models: list[str] = field(default_factory=list)
    step_time_s: float = 0.01
    faults: list[FaultSpec] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimBackendSpec:
        """Build a spec from its JSON form (one entry of a `--config` file)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown SimBackendSpec fields {sorted(unknown)}")
        values = dict(data)
        values["faults"] = [
            f if isinstance(f, FaultSpec) else FaultSpec.from_dict(f)
            for f in values.get("faults", [])
        ]
        return cls(**values)
