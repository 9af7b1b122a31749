"""GPU telemetry (subject ``gpu.sample.<backend_id>``)."""

from __future__ import annotations

import msgspec

from contracts import subjects
from contracts.envelope import Event


class GpuSampled(Event, frozen=True, kw_only=True, tag=subjects.GPU_SAMPLE):
    """One sample of one GPU, from NVML or, without it, from /system_stats."""

    backend_id: str
    index: int = 0
    name: str = ""
    sampled_via: str = "nvml"
    """Where the figures come from: ``nvml`` or ``system_stats``."""
    memory_total: int | None = None
    memory_used: int | None = None
    memory_free: int | None = None
    utilization_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    ecc_uncorrected: int | None = None
    xid_events: list[int] = msgspec.field(default_factory=list)
