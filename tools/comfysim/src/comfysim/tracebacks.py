"""Traceback frames shaped like `traceback.format_tb` output from a ComfyUI v0.33 install."""

from __future__ import annotations

from typing import Final

Frame = tuple[str, int, str, str]
"""(file relative to the install, line, function, source line)."""

EXECUTE_FRAMES: Final[tuple[Frame, ...]] = (
    (
        "execution.py",
        545,
        "execute",
        "output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data("
        "prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, "
        "pre_execute_cb=pre_execute_cb, v3_data=v3_data)",
    ),
    (
        "execution.py",
        344,
        "get_output_data",
        "return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, "
        "input_data_all, obj.FUNCTION, allow_interrupt=True, "
        "execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, v3_data=v3_data)",
    ),
    ("execution.py", 318, "_async_map_node_over_list", "await process_inputs(input_dict, i)"),
    ("execution.py", 306, "process_inputs", "result = f(**inputs)"),
)
"""The frames every node failure starts with (the executor calling the node function)."""

VALIDATE_FRAMES: Final[tuple[Frame, ...]] = (
    (
        "execution.py",
        1184,
        "validate_prompt",
        "m = await validate_inputs(prompt_id, prompt, o, validated)",
    ),
    ("execution.py", 933, "validate_inputs", "o_class_type = prompt[o_id]['class_type']"),
)
"""The frames of an exception raised while validating a linked input."""

SAMPLER_FRAMES: Final[tuple[Frame, ...]] = (
    ("nodes.py", 1580, "sample", "return common_ksampler(model, seed, steps, cfg, ...)"),
    ("comfy/sample.py", 60, "sample", "samples = sampler.sample(noise, positive, negative, ...)"),
    ("comfy/ldm/modules/attention.py", 461, "attention_pytorch", "out = attention(q, k, v)"),
)
"""Simulated frames from a sampler down to the attention kernel (where GPU faults surface)."""

VAE_DECODE_FRAMES: Final[tuple[Frame, ...]] = (
    ("nodes.py", 297, "decode", 'images = vae.decode(samples["samples"])'),
    ("comfy/sd.py", 780, "decode", "out = self.first_stage_model.decode(samples)"),
)
"""Simulated frames of a VAE decode."""

CHECKPOINT_LOAD_FRAMES: Final[tuple[Frame, ...]] = (
    (
        "nodes.py",
        636,
        "load_checkpoint",
        "out = comfy.sd.load_checkpoint_guess_config(ckpt_path, "
        "output_vae=True, output_clip=True, "
        'embedding_directory=folder_paths.get_folder_paths("embeddings"))',
    ),
    (
        "comfy/sd.py",
        2089,
        "load_checkpoint_guess_config",
        "sd, metadata = comfy.utils.load_torch_file(ckpt_path, return_metadata=True)",
    ),
    ("comfy/utils.py", 185, "load_torch_file", "raise e"),
    (
        "comfy/utils.py",
        169,
        "load_torch_file",
        'with safetensors.safe_open(ckpt, framework="pt", device=device.type) as f:',
    ),
)
"""Frames of a checkpoint load failing inside safetensors (as captured in 03b)."""

SAVE_IMAGE_FRAMES: Final[tuple[Frame, ...]] = (
    ("nodes.py", 1712, "save_images", "img.save(os.path.join(full_output_folder, file), ...)"),
    ("site-packages/PIL/Image.py", 2596, "save", "save_handler(self, fp, filename)"),
    ("site-packages/PIL/ImageFile.py", 686, "_save", "fp.write(data)"),
)
"""Simulated frames of SaveImage writing a PNG."""

SAVE_PATH_FRAMES: Final[tuple[Frame, ...]] = (
    (
        "nodes.py",
        1694,
        "save_images",
        "full_output_folder, filename, counter, subfolder, "
        "filename_prefix = folder_paths.get_save_image_path(filename_prefix, self.output_dir, "
        "images[0].shape[1], images[0].shape[0])",
    ),
    ("folder_paths.py", 557, "get_save_image_path", "raise Exception(err)"),
)
"""Frames of SaveImage refusing a prefix that leaves the output folder (captured in 03a)."""

EMPTY_IMAGE_FRAMES: Final[tuple[Frame, ...]] = (
    (
        "nodes.py",
        1995,
        "generate",
        "r = torch.full([batch_size, height, width, 1], "
        "((color >> 16) & 0xFF) / 0xFF, device=device, dtype=dtype)",
    ),
)
"""Frames of EmptyImage allocating its tensor (captured in 04_oom_cpu)."""


def format_frames(frames: tuple[Frame, ...] | list[Frame]) -> list[str]:
    """Frames as `traceback.format_tb` strings, with the install path masked as `<path>`."""
    return [
        f'  File "<path>/{file}", line {line}, in {func}\n    {code}\n'
        for file, line, func, code in frames
    ]


def node_traceback(*node_frames: tuple[Frame, ...]) -> list[str]:
    """The traceback of an exception raised inside a node function."""
    frames: list[Frame] = list(EXECUTE_FRAMES)
    for group in node_frames:
        frames.extend(group)
    return format_frames(frames)


def generic_node_frames(class_type: str) -> tuple[Frame, ...]:
    """One plausible frame for a node without a dedicated traceback."""
    return ((f"nodes_{class_type.lower()}.py", 120, "execute", "return self.run(**kwargs)"),)
