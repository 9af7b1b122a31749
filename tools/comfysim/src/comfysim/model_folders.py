"""Which node inputs choose a file from which models folder, as ComfyUI's loaders do."""

from __future__ import annotations

from typing import Final

LISTED_FOLDERS: Final = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "custom_nodes",
    "datasets",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
    "background_removal",
    "frame_interpolation",
    "geometry_estimation",
    "optical_flow",
    "detection",
)
"""The folder names GET /models lists on a v0.33 server (captured in 07_info_endpoints)."""

FOLDER_ALIASES: Final = {"clip": "text_encoders", "unet": "diffusion_models"}
"""Legacy folder names that ComfyUI still maps onto the new ones."""

INPUT_FOLDER: Final = "input"
"""Pseudo-folder for LoadImage's choices: the files uploaded with /upload/image."""

_BY_INPUT_NAME: Final = {
    "ckpt_name": "checkpoints",
    "lora_name": "loras",
    "vae_name": "vae",
    "unet_name": "diffusion_models",
    "clip_name": "text_encoders",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "clip_name3": "text_encoders",
    "clip_name4": "text_encoders",
    "text_encoder": "text_encoders",
    "control_net_name": "controlnet",
    "style_model_name": "style_models",
    "gligen_name": "gligen",
    "hypernetwork_name": "hypernetworks",
    "photomaker_model_name": "photomaker",
    "audio_encoder_name": "audio_encoders",
    "bg_removal_name": "background_removal",
    "model_path": "diffusers",
}

_BY_CLASS_INPUT: Final = {
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("LatentUpscaleModelLoader", "model_name"): "latent_upscale_models",
    ("FrameInterpolationModelLoader", "model_name"): "frame_interpolation",
    ("OpticalFlowLoader", "model_name"): "optical_flow",
    ("ModelPatchLoader", "name"): "model_patches",
    ("LoadImage", "image"): INPUT_FOLDER,
    ("LoadImageMask", "image"): INPUT_FOLDER,
}

EXTRA_CHOICES: Final = {"vae": ["pixel_space"]}
"""Entries ComfyUI appends to a folder's list (VAELoader offers pixel_space)."""


def canonical_folder(name: str) -> str:
    """The folder name ComfyUI uses for `name` (resolving the legacy aliases)."""
    return FOLDER_ALIASES.get(name, name)


def folder_for_input(class_type: str, input_name: str) -> str | None:
    """The folder whose files an input offers, or None when it is not a file choice."""
    return _BY_CLASS_INPUT.get((class_type, input_name), _BY_INPUT_NAME.get(input_name))


def is_model_input(class_type: str, input_name: str) -> bool:
    """Whether the input picks a model file (not an uploaded input image)."""
    folder = folder_for_input(class_type, input_name)
    return folder is not None and folder != INPUT_FOLDER
