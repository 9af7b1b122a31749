"""The classifier service's settings (env prefix ``CR_CLASSIFIER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cr_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the classifier reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="CR_CLASSIFIER_", env_nested_delimiter="__", extra="ignore"
    )

    rules_file: Path | None = Field(None, description="Operators' custom rules (TOML)")
    rules_poll_s: float = Field(2.0, description="Seconds between checks of the rules file")
    concurrency: int = Field(
        128,
        ge=1,
        description="Failures classified and published at once by this instance (each acked "
        "after its own publish); at most the durable's max_ack_pending (1000)",
    )
