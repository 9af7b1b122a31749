"""What every service's settings have: the bus, the health port and the log level."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from contracts.settings import BusSettings


class ServiceSettings(BaseSettings):
    """Base of each service's ``Settings`` (which sets its own ``CR_<SERVICE>_`` prefix);
    ``nats`` reads ``CR_NATS_*`` itself, so one ``CR_NATS_URL`` configures all."""

    nats: BusSettings = Field(default_factory=BusSettings)
    health_port: int | None = Field(None, description="Port of /healthz, /readyz, /metrics")
    log_level: str = Field("INFO", description="Log level")
