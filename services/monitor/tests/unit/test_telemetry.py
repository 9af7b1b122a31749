"""Health and GPU samples from a real /system_stats reply (captured from ComfyUI v0.33)."""

from __future__ import annotations

from contracts import decode, encode
from monitor.telemetry import gpu_from_stats, health_from_stats
from tests.support.shared import payload


def stats() -> dict:  # type: ignore[type-arg]
    body: dict = payload("07_system_stats.json")["response"]["body"]  # type: ignore[type-arg]
    return body


def test_health_reads_version_device_and_vram() -> None:
    health = health_from_stats("b0", stats(), 3.25, running=1, pending=2)
    device = stats()["devices"][0]
    assert health.comfyui_version == "0.33.0" and health.device_type == device["type"]
    assert (health.vram_total, health.vram_free) == (device["vram_total"], device["vram_free"])
    assert (health.queue_running, health.queue_pending, health.reachable) == (1, 2, True)
    assert decode(encode(health)) == health


def test_gpu_samples_from_system_stats_when_nvml_is_absent() -> None:
    [sample] = gpu_from_stats("b0", stats())
    device = stats()["devices"][0]
    assert sample.sampled_via == "system_stats" and sample.source.startswith("monitor/")
    assert sample.memory_used == device["vram_total"] - device["vram_free"]
    assert decode(encode(sample)) == sample
