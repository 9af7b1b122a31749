"""Bus settings shared by every service and client (env prefix ``CR_NATS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    """How to reach NATS and how streams are laid out.

    Every service's ``Settings`` embeds this, so one ``CR_NATS_URL`` configures all.
    """

    model_config = SettingsConfigDict(env_prefix="CR_NATS_", extra="ignore")

    url: str = Field("nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated")
    replicas: int = Field(1, description="JetStream stream replicas (3 on Kubernetes)")
    publish_timeout_s: float = Field(5.0, description="Seconds to wait for a JetStream ack")
    publish_retries: int = Field(5, description="Publish attempts before giving up")
    connect_timeout_s: float = Field(3.0, description="Seconds per connection attempt")
    events_max_age_days: float = Field(0, description="Events retention in days (0: forever)")
    telemetry_max_age_hours: float = Field(24, description="Telemetry retention in hours")
    duplicate_window_s: float = Field(1800, description="JetStream dedup window in seconds")
    ack_wait_s: float = Field(30, description="Seconds before an unacked message is redelivered")
    max_deliver: int = Field(20, description="Deliveries before a message is given up")

    def servers(self) -> list[str]:
        """The server URLs as a list."""
        return [s.strip() for s in self.url.split(",") if s.strip()]
