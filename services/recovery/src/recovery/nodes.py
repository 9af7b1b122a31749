"""The standard ComfyUI node classes recovery recognises (v0.33.0 object_info), as data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

LATENT_GRID: Final[Mapping[str, int]] = {
    "EmptyLatentImage": 8,
    "EmptySD3LatentImage": 16,
    "EmptyFlux2LatentImage": 16,
    "EmptyChromaRadianceLatentImage": 16,
    "EmptyQwenImageLayeredLatentImage": 16,
    "EmptyHunyuanImageLatent": 32,
    "EmptyHiDreamO1LatentImage": 32,
}
"""Empty image latents (width, height, batch_size; one LATENT output): class → size step.

The step is the node's own ``step`` for width/height; every value is a multiple of 8.
"""

SAMPLERS: Final[Mapping[str, str | None]] = {
    "KSampler": "steps",
    "KSamplerAdvanced": "steps",
    "SamplerCustom": None,
    "SamplerCustomAdvanced": None,
}
"""Samplers (each takes ``latent_image``) → their steps input, if they have one."""

SCHEDULERS_WITH_STEPS: Final = frozenset(
    {
        "BasicScheduler",
        "KarrasScheduler",
        "ExponentialScheduler",
        "PolyexponentialScheduler",
        "BetaSamplingScheduler",
        "LaplaceScheduler",
        "AlignYourStepsScheduler",
        "SDTurboScheduler",
        "GITSScheduler",
        "OptimalStepsScheduler",
        "VPScheduler",
        "Flux2Scheduler",
        "LTXVScheduler",
    }
)
"""Sigma schedulers whose ``steps`` input sets the step count of a custom sampler."""

SIZE_FOLLOWERS: Final = frozenset({"ModelSamplingFlux", "Flux2Scheduler", "Ideogram4Scheduler"})
"""Nodes whose width/height must follow the latent's size when it changes."""

DECODERS: Final = frozenset({"VAEDecode", "VAEDecodeTiled"})
"""VAE decoders (the memory-heavy end of an image graph)."""

TILED_DECODER: Final = "VAEDecodeTiled"
TILED_DEFAULTS: Final[Mapping[str, int]] = {
    "tile_size": 512,
    "overlap": 64,
    "temporal_size": 64,
    "temporal_overlap": 8,
}
"""VAEDecodeTiled's required inputs besides samples/vae, at their schema defaults."""
TILE_STEP: Final = 32
TILE_MIN: Final = 64

SPLITTER: Final = "LatentFromBatch"
SPLIT_MAX_LENGTH: Final = 64
"""LatentFromBatch(samples, batch_index, length): ``length`` is at most 64."""

PRIMITIVES: Final = frozenset(
    {"PrimitiveInt", "PrimitiveFloat", "PrimitiveNode", "PrimitiveString"}
)
"""Nodes that only hold a literal ``value`` linked into other nodes' inputs."""

MODEL_INPUTS: Final[Mapping[str, Mapping[str, str]]] = {
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "CheckpointLoader": {"ckpt_name": "checkpoints", "config_name": "configs"},
    "ImageOnlyCheckpointLoader": {"ckpt_name": "checkpoints"},
    "unCLIPCheckpointLoader": {"ckpt_name": "checkpoints"},
    "UNETLoader": {"unet_name": "diffusion_models"},
    "LoraLoader": {"lora_name": "loras"},
    "LoraLoaderModelOnly": {"lora_name": "loras"},
    "LoraLoaderBypass": {"lora_name": "loras"},
    "LoraLoaderBypassModelOnly": {"lora_name": "loras"},
    "VAELoader": {"vae_name": "vae"},
    "CLIPLoader": {"clip_name": "text_encoders"},
    "DualCLIPLoader": {"clip_name1": "text_encoders", "clip_name2": "text_encoders"},
    "TripleCLIPLoader": {f"clip_name{i}": "text_encoders" for i in (1, 2, 3)},
    "QuadrupleCLIPLoader": {f"clip_name{i}": "text_encoders" for i in (1, 2, 3, 4)},
    "CLIPVisionLoader": {"clip_name": "clip_vision"},
    "ControlNetLoader": {"control_net_name": "controlnet"},
    "DiffControlNetLoader": {"control_net_name": "controlnet"},
    "UpscaleModelLoader": {"model_name": "upscale_models"},
    "StyleModelLoader": {"style_model_name": "style_models"},
    "GLIGENLoader": {"gligen_name": "gligen"},
    "HypernetworkLoader": {"hypernetwork_name": "hypernetworks"},
    "PhotoMakerLoader": {"photomaker_model_name": "photomaker"},
}
"""Loader class → its model-file inputs → the model folder they read."""

FOLDER_ALIASES: Final[Mapping[str, str]] = {
    "clip": "text_encoders",
    "unet": "diffusion_models",
    "t2i_adapter": "controlnet",
}
"""Legacy folder names ComfyUI still maps onto the current ones."""

OUTPUT_PREFIX_INPUT: Final = "filename_prefix"
"""The input of saving nodes that names their output files."""


def canonical_folder(folder: str) -> str:
    """The current name of a model folder (``clip`` → ``text_encoders``)."""
    return FOLDER_ALIASES.get(folder, folder)
