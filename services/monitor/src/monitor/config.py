"""Monitor settings (env prefix ``CR_MONITOR_``; backends from ``CR_COMFYUI_URLS``)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from cr_runtime.settings import BackendsSettings


class Settings(BackendsSettings):
    """Everything the monitor reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="CR_MONITOR_", extra="ignore")

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
    restart_hook: Literal["auto", "none", "command", "webhook", "kubernetes", "simulator"] = Field(
        "auto",
        description="What restarts a backend recovery asks to restart (wedged): auto = "
        "simulator when the backend answers /sim/state, else none (an event, a metric, KV)",
    )
    restart_command: str = Field(
        "", description="restart_hook=command: shell command (env CR_BACKEND_ID, CR_BACKEND_URL)"
    )
    restart_webhook_url: str = Field("", description="restart_hook=webhook: URL to POST to")
    restart_k8s_namespace: str = Field(
        "", description="restart_hook=kubernetes: namespace (default: the monitor's own)"
    )
    restart_k8s_pod: str = Field(
        "", description="restart_hook=kubernetes: pod name template, e.g. 'comfyui-{backend_id}'"
    )
    restart_k8s_selector: str = Field(
        "", description="restart_hook=kubernetes: label selector template (when no pod name)"
    )
    restart_cooldown_s: float = Field(
        30.0,
        description="At most one restart of a backend per this many seconds (requests from "
        "before its last restart are never acted on)",
    )
    restart_max_age_s: float = Field(
        600.0, description="Restart requests older than this are not acted on (stale)"
    )
    restart_timeout_s: float = Field(60.0, description="Seconds a restart hook may take")

    @model_validator(mode="after")
    def _restart_hook_is_complete(self) -> Self:
        """A chosen hook has what it needs (else the monitor refuses to start, saying why)."""
        needs = {
            "command": ("CR_MONITOR_RESTART_COMMAND", self.restart_command),
            "webhook": ("CR_MONITOR_RESTART_WEBHOOK_URL", self.restart_webhook_url),
            "kubernetes": (
                "CR_MONITOR_RESTART_K8S_POD or CR_MONITOR_RESTART_K8S_SELECTOR",
                self.restart_k8s_pod or self.restart_k8s_selector,
            ),
        }
        if self.restart_hook in needs and not needs[self.restart_hook][1]:
            wanted = needs[self.restart_hook][0]
            raise ValueError(f"CR_MONITOR_RESTART_HOOK={self.restart_hook} needs {wanted}")
        return self
