"""Backend health, inventory and GPU samples, published and kept in the registry."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import structlog

from contracts.backend import BackendHealth, BackendInventory
from contracts.envelope import CONTROL_JOB_ID, new_event_id, utcnow
from contracts.errors import BusUnavailableError
from contracts.gpu import GpuSampled
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.nvml import GpuFigures, NvmlProbe
from monitor.errors import BackendDownError
from monitor.follower import Follower
from monitor.publisher import SOURCE, Publisher

log = structlog.get_logger(__name__)


def _envelope() -> dict[str, Any]:
    return {
        "event_id": new_event_id(),
        "job_id": CONTROL_JOB_ID,
        "occurred_at": utcnow(),
        "source": SOURCE,
    }


def health_from_stats(
    backend_id: str, stats: dict[str, Any], latency_ms: float, running: int, pending: int
) -> BackendHealth:
    """A BackendHealth from /system_stats and /queue."""
    system = stats.get("system") or {}
    device = (stats.get("devices") or [{}])[0]
    return BackendHealth(
        **_envelope(),
        backend_id=backend_id,
        reachable=True,
        latency_ms=round(latency_ms, 2),
        queue_running=running,
        queue_pending=pending,
        comfyui_version=system.get("comfyui_version"),
        device_type=device.get("type"),
        vram_total=device.get("vram_total"),
        vram_free=device.get("vram_free"),
    )


def gpu_from_stats(backend_id: str, stats: dict[str, Any]) -> list[GpuSampled]:
    """GPU samples from /system_stats devices (when NVML is not available)."""
    samples = []
    for index, device in enumerate(stats.get("devices") or []):
        total, free = device.get("vram_total"), device.get("vram_free")
        samples.append(
            GpuSampled(
                **_envelope(),
                backend_id=backend_id,
                index=index,
                name=str(device.get("name", "")),
                sampled_via="system_stats",
                memory_total=total,
                memory_free=free,
                memory_used=(total - free) if total is not None and free is not None else None,
            )
        )
    return samples


def gpu_from_nvml(host: str, figures: GpuFigures) -> GpuSampled:
    """A GPU sample from an NVML reading."""
    return GpuSampled(**_envelope(), backend_id=host, sampled_via="nvml", **figures)


class Telemetry:
    """Periodic health and inventory of one backend."""

    def __init__(
        self, follower: Follower, reader: ComfyReader, out: Publisher, use_stats_for_gpu: bool
    ) -> None:
        self.follower = follower
        self.reader = reader
        self.out = out
        self.use_stats_for_gpu = use_stats_for_gpu
        self.inventory_digest = ""
        self.reachable: bool | None = None

    async def health_once(self) -> None:
        """Probe, publish health (and GPU from stats), record up/down transitions."""
        backend_id = self.reader.ref.id
        try:
            stats, latency = await self.reader.system_stats()
            running, pending = await self.reader.queue()
        except BackendDownError as exc:
            if self.reachable is not False:
                log.warning("backend.down", backend=backend_id, error=str(exc))
            self.reachable = False
            await self.out.telemetry(
                BackendHealth(
                    **_envelope(), backend_id=backend_id, reachable=False, error=str(exc)[:300]
                ),
                "health",
            )
            return
        if self.reachable is False:
            log.info("backend.up", backend=backend_id)
        self.reachable = True
        health = health_from_stats(backend_id, stats, latency, len(running), len(pending))
        self.follower.info.version, self.follower.info.device_type = (
            health.comfyui_version,
            health.device_type,
        )
        self.follower.info.health = health
        await self.out.telemetry(health, "health")
        if self.use_stats_for_gpu:
            for sample in gpu_from_stats(backend_id, stats):
                await self.out.telemetry(sample)

    async def inventory_once(self) -> None:
        """Read node classes and models; publish when they changed."""
        try:
            classes, models = await self.reader.node_classes(), await self.reader.models()
        except BackendDownError:
            return
        digest = hashlib.sha256(repr((classes, sorted(models.items()))).encode()).hexdigest()
        if digest == self.inventory_digest:
            return
        self.inventory_digest = digest
        await self.out.telemetry(
            BackendInventory(
                **_envelope(),
                backend_id=self.reader.ref.id,
                node_classes=classes,
                models=models,
                comfyui_version=self.follower.info.version,
                device_type=self.follower.info.device_type,
                digest=digest[:16],
            ),
            "inventory",
        )

    async def loop(self, health_s: float, inventory_s: float) -> None:
        """Health every `health_s`, inventory every `inventory_s`, forever."""
        next_inventory = 0.0
        clock = asyncio.get_running_loop().time
        while True:
            try:
                await self.health_once()
                if self.reachable and clock() >= next_inventory:
                    await self.inventory_once()
                    next_inventory = clock() + inventory_s
            except BusUnavailableError as exc:
                log.warning("telemetry.not_published", error=str(exc))
            await asyncio.sleep(health_s)


async def nvml_loop(probe: NvmlProbe, out: Publisher, host: str, every_s: float) -> None:
    """Sample local GPUs forever (returns at once when NVML is unavailable)."""
    if not probe.start():
        return
    try:
        while True:
            for reading in await asyncio.to_thread(probe.sample):
                await out.telemetry(gpu_from_nvml(host, reading))
            await asyncio.sleep(every_s)
    finally:
        probe.stop()
