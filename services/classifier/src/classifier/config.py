"""The classifier service's settings (env prefix ``CR_CLASSIFIER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.settings import BusSettings


class Settings(BaseSettings):
    """Everything the classifier reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="CR_CLASSIFIER_", env_nested_delimiter="__", extra="ignore"
    )

    nats: BusSettings = Field(default_factory=BusSettings)
    rules_file: Path | None = Field(None, description="Operators' custom rules (TOML)")
    rules_poll_s: float = Field(2.0, description="Seconds between checks of the rules file")
    health_port: int | None = Field(None, description="Port of /healthz, /readyz, /metrics")
    log_level: str = Field("INFO", description="Log level")
