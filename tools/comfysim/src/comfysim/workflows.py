"""Ready-made API-format prompts for tests and the demo."""

from __future__ import annotations

from typing import Any

Prompt = dict[str, Any]


def txt2img(
    ckpt: str = "sd_xl_base_1.0.safetensors",
    width: int = 1024,
    height: int = 1024,
    batch: int = 1,
    steps: int = 4,
    prefix: str = "sim/txt2img",
    tiled_decode: bool = False,
    take: int | None = None,
) -> Prompt:
    """The standard checkpoint → KSampler → VAE decode → SaveImage graph.

    `take` inserts LatentFromBatch(batch_index=0, length=take) before the sampler;
    `tiled_decode` swaps VAEDecode for VAEDecodeTiled.
    """
    latent_source = ["5", 0]
    prompt: Prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": width, "height": height, "batch_size": batch},
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "a photo of a cat", "clip": ["4", 1]},
        },
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    }
    if take is not None:
        prompt["10"] = {
            "class_type": "LatentFromBatch",
            "inputs": {"samples": ["5", 0], "batch_index": 0, "length": take},
        }
        latent_source = ["10", 0]
    prompt["3"] = {
        "class_type": "KSampler",
        "inputs": {
            "seed": 42,
            "steps": steps,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": latent_source,
        },
    }
    decode: dict[str, Any] = {"samples": ["3", 0], "vae": ["4", 2]}
    if tiled_decode:
        decode.update(tile_size=512, overlap=64, temporal_size=64, temporal_overlap=8)
    prompt["8"] = {
        "class_type": "VAEDecodeTiled" if tiled_decode else "VAEDecode",
        "inputs": decode,
    }
    prompt["9"] = {
        "class_type": "SaveImage",
        "inputs": {"filename_prefix": prefix, "images": ["8", 0]},
    }
    return prompt


def image_chain(prefix: str = "sim/chain", frames: int = 2) -> Prompt:
    """The 01_success graph: EmptyImage → ImageBlur → ColorTransfer → SaveImage, and a preview."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 512, "height": 512, "batch_size": frames, "color": 16744448},
        },
        "2": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 16639},
        },
        "3": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": 3, "sigma": 1.0},
        },
        "4": {
            "class_type": "ColorTransfer",
            "inputs": {
                "image_target": ["3", 0],
                "image_ref": ["2", 0],
                "method": "reinhard_lab",
                "source_stats": "per_frame",
                "strength": 0.5,
            },
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": prefix}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }


def empty_image(
    width: int,
    height: int,
    batch: int = 1,
    color: int = 0,
    output: str = "PreviewImage",
    **inputs: Any,
) -> Prompt:
    """EmptyImage (node "1") → an output node of class `output` (node "2")."""
    sizes = {"width": width, "height": height, "batch_size": batch, "color": color}
    return {
        "1": {"class_type": "EmptyImage", "inputs": sizes},
        "2": {"class_type": output, "inputs": {"images": ["1", 0], **inputs}},
    }


def tiny(color: int = 1, prefix: str | None = None) -> Prompt:
    """EmptyImage 32×32 → PreviewImage (or SaveImage when a prefix is given)."""
    if prefix:
        return empty_image(32, 32, color=color, output="SaveImage", filename_prefix=prefix)
    return empty_image(32, 32, color=color)
