"""What each kind of node does when it runs: timing, progress, memory checks, files and failures."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from comfysim import failures
from comfysim.faults import is_sampler
from comfysim.files import escapes, png_bytes
from comfysim.memory import DEFAULT_TILE, VAE_WEIGHTS, decode_need, sampler_need
from comfysim.node_run import NodeRun
from comfysim.tracebacks import EMPTY_IMAGE_FRAMES, SAMPLER_FRAMES, VAE_DECODE_FRAMES

UI = dict[str, Any] | None
log = logging.getLogger("comfysim.server")

_GREY = (128, 128, 128)


async def run_node(node: NodeRun) -> UI:
    """Execute one node; returns its UI output (None when it has none)."""
    if node.fault is not None and not is_sampler(node.class_type):
        await node.fire_fault()
    behaviour = _BEHAVIOURS.get(node.class_type)
    if behaviour is None:
        behaviour = _sample if is_sampler(node.class_type) else _generic
    return await behaviour(node)


async def _sample(node: NodeRun) -> UI:
    steps = max(1, int(node.shape.get("steps", 20)))
    width, height, batch = node.dims()
    gpu = node.proc.gpu
    weights, activations = sampler_need(node.shape.get("model"), width, height, batch)
    if node.on_gpu:
        report = gpu.check(weights, activations)
        if report is not None:
            raise failures.gpu_oom(report, SAMPLER_FRAMES)
        gpu.loaded = {str(node.shape.get("model")): weights}
        gpu.active = activations
    fire_at = node.fault_step(steps)
    try:
        for step in range(1, steps + 1):
            if step == fire_at:
                await node.fire_fault()
            await node.pause(node.services.spec.step_time_s)
            await node.progress(step, steps)
    finally:
        gpu.active = 0
    return None


async def _decode(node: NodeRun) -> UI:
    width, height, _ = node.dims()
    tile = (
        int(node.inputs.get("tile_size", DEFAULT_TILE))
        if node.class_type == "VAEDecodeTiled"
        else None
    )
    if node.on_gpu:
        report = node.proc.gpu.check(VAE_WEIGHTS, decode_need(width, height, tile))
        if report is not None and tile is None:
            log.warning(
                "Warning: Ran out of memory when regular VAE decoding, "
                "retrying with tiled VAE decoding."
            )
            report = node.proc.gpu.check(VAE_WEIGHTS, decode_need(width, height, DEFAULT_TILE))
        if report is not None:
            raise failures.gpu_oom(report, VAE_DECODE_FRAMES)
    await node.pause()
    return None


async def _load_model(node: NodeRun) -> UI:
    corrupt = set(node.services.spec.corrupt_models)
    for name in node.services.catalogue.file_inputs(node.class_type):
        if node.inputs.get(name) in corrupt:
            raise failures.corrupt_model()
    await node.pause()
    return None


async def _empty(node: NodeRun) -> UI:
    width, height, batch = node.dims()
    if node.class_type == "EmptyImage":
        needed = batch * height * width * 4
    else:
        needed = batch * 4 * (height // 8) * (width // 8) * 4
    if needed > node.services.spec.ram_total:
        raise failures.host_oom(needed, EMPTY_IMAGE_FRAMES)
    await node.pause()
    return None


async def _save_image(node: NodeRun) -> UI:
    prefix = str(node.inputs.get("filename_prefix", "ComfyUI"))
    if escapes(prefix):
        raise failures.save_outside_output()
    await node.pause()
    return {"images": _write_images(node, "output", prefix)}


async def _preview_image(node: NodeRun) -> UI:
    prefix = node.proc.preview_prefix(node.node_id, node.class_type)
    await node.pause()
    return {"images": _write_images(node, "temp", prefix)}


def _write_images(node: NodeRun, kind: str, prefix: str) -> list[dict[str, str]]:
    width, height, batch = node.dims()
    return node.services.files.save_batch(kind, prefix, batch, (width, height), _GREY)


async def _save_image_websocket(node: NodeRun) -> UI:
    width, height, batch = node.dims()
    for index in range(batch):
        await node.pause()
        await node.progress(index, batch, png_bytes(width, height, _GREY))
    return None


async def _color_transfer(node: NodeRun) -> UI:
    _, _, frames = node.dims()
    for frame in range(1, frames + 1):
        await node.pause(node.services.spec.step_time_s)
        await node.progress(frame, frames)
    return None


async def _generic(node: NodeRun) -> UI:
    if node.services.catalogue.file_inputs(node.class_type):
        return await _load_model(node)
    if node.class_type.startswith("Empty") and "width" in node.inputs:
        return await _empty(node)
    await node.pause()
    return None


_BEHAVIOURS: dict[str, Callable[[NodeRun], Awaitable[UI]]] = {
    "VAEDecode": _decode,
    "VAEDecodeTiled": _decode,
    "SaveImage": _save_image,
    "PreviewImage": _preview_image,
    "SaveImageWebsocket": _save_image_websocket,
    "ColorTransfer": _color_transfer,
}
