"""Monitor settings (env prefix ``CR_MONITOR_``; backends from ``CR_COMFYUI_URLS``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.settings import BusSettings


class Settings(BaseSettings):
    """Everything the monitor reads from the environment."""

    # populate_by_name: `Settings(comfyui_urls=...)` works too (tests and callers pass
    # keywords; without it the alias alone is accepted and the keyword is silently dropped)
    model_config = SettingsConfigDict(
        env_prefix="CR_MONITOR_", extra="ignore", populate_by_name=True
    )

    nats: BusSettings = Field(default_factory=BusSettings)
    comfyui_urls: str = Field(
        "",
        validation_alias=AliasChoices("CR_COMFYUI_URLS"),
        description="ComfyUI backends: 'id=http://host:8188,…' (ids default to b0, b1, …)",
    )
    progress_per_s: float = Field(2.0, description="Max job.progress events per second per job")
    health_interval_s: float = Field(5.0, description="Seconds between health probes")
    inventory_interval_s: float = Field(60.0, description="Seconds between inventory reads")
    reconcile_interval_s: float = Field(10.0, description="Seconds between /history checks")
    check_interval_s: float = Field(1.0, description="Seconds between stall/timeout checks")
    unreachable_grace_s: float = Field(
        30.0, description="Backend unreachable this long → our prompts there are given up"
    )
    wedge_window_s: float = Field(120.0, description="No activity at all → BACKEND_WEDGED")
    lost_grace_s: float = Field(
        3.0, description="Seconds before a prompt absent from queue and history counts as lost"
    )
    http_timeout_s: float = Field(15.0, description="Seconds to wait for a ComfyUI reply")
    nvml: bool = Field(True, description="Sample local GPUs through NVML when available")
    gpu_only: bool = Field(
        False, description="Only sample local GPUs (the GPU DaemonSet): no backends, no consumer"
    )
    node_name: str = Field("", description="Name GPU samples are reported under (default: host)")
    health_port: int | None = Field(None, description="Port of /healthz, /readyz, /metrics")
    log_level: str = Field("INFO", description="Log level")
