"""What every service's settings have: the bus, the health port, the log level, the
instance name."""

from __future__ import annotations

import os
import socket

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.settings import BusSettings


class ServiceSettings(BaseSettings):
    """Base of each service's ``Settings`` (which sets its own ``CR_<SERVICE>_`` prefix);
    ``nats`` reads ``CR_NATS_*`` itself, so one ``CR_NATS_URL`` configures all."""

    nats: BusSettings = Field(default_factory=BusSettings)
    health_port: int | None = Field(None, description="Port of /healthz, /readyz, /metrics")
    log_level: str = Field("INFO", description="Log level")
    instance: str = Field(
        "", description="This instance's name in its events' source (default: <host>-<pid>)"
    )

    def source(self, service: str) -> str:
        """Who this instance of `service` publishes as (see `instance_source`)."""
        return instance_source(service, self.instance)


class BackendsSettings(ServiceSettings):
    """Base of a service that talks to the ComfyUI backends (``CR_COMFYUI_URLS``)."""

    # populate_by_name: `Settings(comfyui_urls=...)` works too (tests and callers pass
    # keywords; without it the alias alone is accepted and the keyword is silently dropped)
    model_config = SettingsConfigDict(populate_by_name=True)

    comfyui_urls: str = Field(
        "",
        validation_alias=AliasChoices("CR_COMFYUI_URLS"),
        description="ComfyUI backends: 'id=http://host:8188,…' (ids default to b0, b1, …)",
    )


def instance_source(service: str, instance: str = "") -> str:
    """``<service>/<instance>``, the envelope's ``source``; without an instance name,
    ``<service>/<hostname>-<pid>`` (two processes on one host never share one)."""
    return f"{service}/{instance or f'{socket.gethostname()}-{os.getpid()}'}"
