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
    extra_env: dict[str, str] = field(default_factory=dict)
    simulator_module: str = "comfysim"

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
