"""What `comfy-recovery up` starts and where, read from the environment."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class StackConfigError(ValueError):
    """A stack setting in the environment is malformed."""


SERVICES = ("submitter", "monitor", "classifier", "recovery", "analytics")
HEALTH_BASE_PORT = 9461


@dataclass(frozen=True)
class Unit:
    """One supervised service process."""

    key: str
    """Its name in the stack (``recovery``, ``recovery-2``, …)."""
    service: str
    instance: int
    """1, 2, …: its instance name, ``<service>/<instance>`` in the events it publishes."""
    port_index: int
    """Its health port is the stack's base port + this."""


@dataclass
class StackConfig:
    """Where things live and what to start."""

    data_dir: Path
    nats_url: str | None = None
    nats_port: int = 4222
    nats_cluster: int = 1
    """nats-server processes to run as one cluster (``up --cluster 3``); 1: a single server."""
    comfyui_urls: str = ""
    simulator_backends: int = 2
    health_base_port: int = HEALTH_BASE_PORT
    services: Sequence[str] = SERVICES
    instances: int = 1
    """Processes of each service (``up --instances 2``): side by side on the same durables."""
    extra_env: dict[str, str] = field(default_factory=dict)
    simulator_module: str = "comfysim"

    def units(self) -> list[Unit]:
        """Every service process to run: instance 1 of each service, then instance 2, …

        Two run once whatever `instances` says. The monitor: ComfyUI sends a prompt's
        progress only to the websocket of the client id it was posted with, one per
        backend, and a second socket with that id leaves the first deaf, so two monitors
        took the socket from each other (ADR 0003: per-backend leases are the way out; the
        Kubernetes manifest runs one replica too). Analytics on embedded chDB: its files
        belong to one process; against a ClickHouse server (``CR_ANALYTICS_INTERFACE=http``)
        every instance inserts its share into the same tables.
        """
        count = len(self.services)
        interface = self.extra_env.get("CR_ANALYTICS_INTERFACE") or os.environ.get(
            "CR_ANALYTICS_INTERFACE", "chdb"
        )
        single = {"monitor", "analytics"} if interface == "chdb" else {"monitor"}
        return [
            Unit(name if k == 0 else f"{name}-{k + 1}", name, k + 1, k * count + i)
            for k in range(self.instances)
            for i, name in enumerate(self.services)
            if k == 0 or name not in single
        ]

    @classmethod
    def from_env(cls) -> StackConfig:
        """Read ``CR_DATA_DIR``, ``CR_NATS_URL``, ``CR_LOCAL_NATS_PORT``,
        ``CR_LOCAL_NATS_CLUSTER``, ``CR_COMFYUI_URLS``, ``CR_SIM_BACKENDS`` and
        ``CR_HEALTH_BASE_PORT``.

        Raises:
            StackConfigError: a number is not a number or out of range.
        """
        return cls(
            data_dir=data_dir_from_env(),
            nats_url=os.environ.get("CR_NATS_URL") or None,
            nats_port=_int_env("CR_LOCAL_NATS_PORT", 4222, 1, 65535),
            nats_cluster=_int_env("CR_LOCAL_NATS_CLUSTER", 1, 1, 5),
            comfyui_urls=os.environ.get("CR_COMFYUI_URLS", ""),
            simulator_backends=_int_env("CR_SIM_BACKENDS", 2, 1, 64),
            health_base_port=_int_env("CR_HEALTH_BASE_PORT", HEALTH_BASE_PORT, 1, 65530),
        )


def data_dir_from_env() -> Path:
    """``CR_DATA_DIR`` (default ``.data``), absolute."""
    return Path(os.environ.get("CR_DATA_DIR", ".data")).resolve()


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StackConfigError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise StackConfigError(f"{name}={value} is out of range ({low}..{high})")
    return value


SIMULATOR_MODULE = "comfysim"
MISSING_SIMULATOR = (
    "no CR_COMFYUI_URLS given and the ComfyUI simulator is not installed: "
    "set CR_COMFYUI_URLS=id=http://host:8188,... or install it (`make install`, or "
    "`pip install ./tools/comfysim`)"
)


def simulator_installed(module: str = SIMULATOR_MODULE) -> bool:
    """Whether the development simulator package can be started."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
