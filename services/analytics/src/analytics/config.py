"""Settings of the analytics service (env prefix ``CR_ANALYTICS_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from cr_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """Where the projection goes (embedded chDB or a ClickHouse server) and how it batches."""

    model_config = SettingsConfigDict(
        env_prefix="CR_ANALYTICS_", env_nested_delimiter="__", extra="ignore"
    )

    interface: Literal["chdb", "http"] = Field(
        "chdb", description="chdb: embedded engine on a local path; http: a ClickHouse server"
    )
    chdb_path: str = Field(".data/analytics", description="chDB data directory (relative to cwd)")
    host: str = Field("localhost", description="ClickHouse server host")
    port: int = Field(8123, description="ClickHouse HTTP(S) port")
    username: str = Field("default", description="ClickHouse user")
    password: SecretStr = Field(SecretStr(""), description="ClickHouse password")
    database: str = Field("comfy_recovery", description="Database holding the projection")
    secure: bool = Field(False, description="Use TLS (https) to reach the server")
    batch_max_rows: int = Field(10_000, description="Events fetched and inserted per batch")
    batch_max_seconds: float = Field(1.0, description="Longest wait to fill a batch")
    retry_initial_s: float = Field(1.0, description="First nak delay while the store is down")
    retry_max_s: float = Field(30.0, description="Longest nak delay while the store is down")
