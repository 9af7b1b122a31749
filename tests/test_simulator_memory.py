"""The VRAM model: budgets, the GPU OOM error, fragmentation until /free, splits, tiled decode."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from comfysim.memory import GIB, OOM_TIPS, family_of
from comfysim.pytest_plugin import StartSim
from comfysim.spec import SimBackendSpec
from comfysim.testing import Frame, SimSession, WsRecorder
from comfysim.workflows import empty_image, txt2img

OOM_TEXT = re.compile(
    r"^CUDA out of memory\. Tried to allocate (?P<req>[\d.]+) GiB \(GPU 0; "
    r"(?P<total>[\d.]+) GiB total capacity; (?P<alloc>[\d.]+) GiB already allocated; "
    r"(?P<free>[\d.]+ [GMK]iB|\d+ bytes) free; (?P<reserved>[\d.]+) GiB reserved in total by "
    r"PyTorch\) If reserved memory is >> allocated memory try setting max_split_size_mb to avoid "
    r"fragmentation\.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF\n"
)


async def _session(start_sim: StartSim, vram_gib: float) -> AsyncIterator[SimSession]:
    cluster = await start_sim(
        SimBackendSpec(id="gpu", vram_total=int(vram_gib * GIB), step_time_s=0.002)
    )
    url = cluster.urls["gpu"]
    async with httpx.AsyncClient(base_url=url) as http:
        ws = await WsRecorder.connect(url, "mem")
        yield SimSession(url, http, ws, "mem")
        await ws.close()


@pytest.fixture
async def gpu24(start_sim: StartSim) -> AsyncIterator[SimSession]:
    """An RTX 4090 (24 GiB)."""
    async for session in _session(start_sim, 24):
        yield session


@pytest.fixture
async def gpu12(start_sim: StartSim) -> AsyncIterator[SimSession]:
    """A 12 GiB card."""
    async for session in _session(start_sim, 12):
        yield session


def _outcome(frames: list[Frame]) -> tuple[str, dict[str, Any]]:
    last = [f for f in frames if isinstance(f, dict) and f["type"].startswith("execution_")][-1]
    return last["type"], last["data"]


async def _state(session: SimSession) -> dict[str, Any]:
    state: dict[str, Any] = (await session.http.get("/sim/state")).json()
    return state


def test_family_is_guessed_from_the_file_name() -> None:
    assert family_of("sd_xl_base_1.0.safetensors") == "sdxl"
    assert family_of("v1-5-pruned-emaonly.safetensors") == "sd15"
    assert family_of("flux1-dev-fp8.safetensors") == "flux"
    assert family_of("mystery.ckpt") == "default"


async def test_sdxl_1024_batch_1_fits_and_stays_loaded(gpu24: SimSession) -> None:
    _, frames = await gpu24.run(txt2img(batch=1))
    assert _outcome(frames)[0] == "execution_success"
    device = (await gpu24.http.get("/system_stats")).json()["devices"][0]
    assert device["vram_total"] == 24 * GIB
    assert device["vram_free"] == int(17.5 * GIB)


async def test_sdxl_batch_8_fails_with_the_real_gpu_oom(gpu24: SimSession) -> None:
    _, frames = await gpu24.run(txt2img(batch=8))
    kind, error = _outcome(frames)
    assert kind == "execution_error"
    assert (error["node_id"], error["node_type"]) == ("3", "KSampler")
    assert error["exception_type"] == "torch.OutOfMemoryError"
    message = error["exception_message"]
    found = OOM_TEXT.match(message)
    assert found, message
    assert message.endswith("\n" + OOM_TIPS)  # ComfyUI appends its tips after one newline
    numbers = {k: float(v) for k, v in found.groupdict().items() if k != "free"}
    assert numbers == {"req": 20.0, "total": 24.0, "alloc": 6.5, "reserved": 6.5}
    assert found["free"] == "17.50 GiB"
    assert sorted(error["executed"]) == ["4", "5", "6", "7"]
    assert error["current_inputs"]["steps"] == [4]
    assert error["traceback"][0].startswith('  File "<path>/execution.py"')


async def test_oom_leaves_the_gpu_fragmented_until_free(gpu24: SimSession) -> None:
    await gpu24.run(txt2img(batch=8))
    state = await _state(gpu24)
    assert 0.15 * 24 * GIB <= state["fragmentation_bytes"] <= 0.25 * 24 * GIB
    assert state["vram_usable"] == 24 * GIB - state["fragmentation_bytes"]
    device = (await gpu24.http.get("/system_stats")).json()["devices"][0]
    assert device["vram_free"] == 24 * GIB - state["fragmentation_bytes"]
    _, frames = await gpu24.run(txt2img(batch=5))
    assert _outcome(frames)[1]["exception_type"] == "torch.OutOfMemoryError"
    await gpu24.http.post("/free", json={"unload_models": True})
    assert (await _state(gpu24))["fragmentation_bytes"] == 0
    _, frames = await gpu24.run(txt2img(batch=5))
    assert _outcome(frames)[0] == "execution_success"


async def test_latent_from_batch_split_fits_where_the_batch_does_not(gpu24: SimSession) -> None:
    _, frames = await gpu24.run(txt2img(batch=8, take=4))
    assert _outcome(frames)[0] == "execution_success"


async def test_2048_square_does_not_fit_12_gib_but_fits_24(
    gpu12: SimSession, gpu24: SimSession
) -> None:
    _, small_card = await gpu12.run(txt2img(width=2048, height=2048))
    assert _outcome(small_card)[1]["exception_type"] == "torch.OutOfMemoryError"
    _, big_card = await gpu24.run(txt2img(width=2048, height=2048))
    assert _outcome(big_card)[0] == "execution_success"


async def test_whole_image_decode_that_does_not_fit_is_retried_in_tiles(
    gpu24: SimSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="comfysim.server"):
        _, frames = await gpu24.run(txt2img(width=2560, height=2560))
    assert _outcome(frames)[0] == "execution_success"
    assert "retrying with tiled VAE decoding" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="comfysim.server"):
        _, frames = await gpu24.run(
            txt2img(width=2560, height=2560, tiled_decode=True, prefix="sim/tiled")
        )
    assert _outcome(frames)[0] == "execution_success"
    assert "retrying with tiled" not in caplog.text


async def test_cpu_allocation_beyond_ram_is_the_captured_host_oom(gpu24: SimSession) -> None:
    _, frames = await gpu24.run(empty_image(16384, 16384, batch=4096))
    error = _outcome(frames)[1]
    assert error["exception_type"] == "RuntimeError"
    assert error["exception_message"] == (
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 4398046511104 bytes. Error code 12 (Cannot allocate memory)\n"
    )
