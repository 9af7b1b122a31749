"""Submitter settings (env prefix ``CR_SUBMITTER_``; backends from ``CR_COMFYUI_URLS``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from cr_runtime.settings import BackendsSettings


class Settings(BackendsSettings):
    """Everything the submitter reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="CR_SUBMITTER_", extra="ignore")

    connect_timeout_s: float = Field(3.0, description="Seconds to connect to ComfyUI")
    read_timeout_s: float = Field(30.0, description="Seconds to wait for a ComfyUI reply")
    max_connections: int = Field(50, description="Pooled HTTP connections per backend")
    no_backend_retry_s: float = Field(
        5.0, description="Seconds between looks for a usable backend while a job waits"
    )
    max_queue_per_backend: int = Field(
        0, ge=0, description="Prompts a backend may hold queued or running (0: no limit)"
    )
    default_stall_window_s: float = Field(120.0, description="Stall window if no policy")
    api_port: int | None = Field(None, description="Port of the public HTTP API (unset: off)")
    api_host: str = Field("0.0.0.0", description="Address the HTTP API listens on")
    api_tokens: SecretStr = Field(
        SecretStr(""), description="Comma-separated bearer tokens (empty: no authentication)"
    )
    api_open_health: bool = Field(True, description="Serve /v1/health without a token")
    api_max_body_bytes: int = Field(16 * 2**20, description="Largest request body accepted")
