"""Local GPUs through NVML (the `pynvml` module of nvidia-ml-py); absent NVML is normal."""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

import structlog

log = structlog.get_logger(__name__)


GpuFigures = dict[str, Any]
"""One GPU's figures at one moment, keyed by `contracts.gpu.GpuSampled`'s field names (the
wire type is the one place they are named; None where the device does not support one)."""


def load_pynvml() -> ModuleType | None:
    """The `pynvml` module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    module: ModuleType = pynvml
    return module


class NvmlProbe:
    """Samples every local GPU. Without a driver it reports once and stays quiet."""

    def __init__(self, module: ModuleType | None, reason: str = "nvidia-ml-py not installed"):
        self.nv = module
        self.available = False
        self.reason = reason if module is None else ""
        self._xid_set: Any = None

    def start(self) -> bool:
        """Initialise NVML; False (with `reason`) when there is no usable driver."""
        if self.nv is None:
            log.info("nvml.unavailable", reason=self.reason)
            return False
        try:
            self.nv.nvmlInit()
        except self.nv.NVMLError as exc:
            self.reason = f"{type(exc).__name__}: {exc}"
            log.info("nvml.unavailable", reason=self.reason)
            return False
        self.available = True
        self._register_xid()
        return True

    def _register_xid(self) -> None:
        nv = self.nv
        assert nv is not None
        try:
            self._xid_set = nv.nvmlEventSetCreate()
            for i in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(i)
                nv.nvmlDeviceRegisterEvents(handle, nv.nvmlEventTypeXidCriticalError, self._xid_set)
        except nv.NVMLError as exc:
            log.info("nvml.xid_unsupported", reason=str(exc))
            self._xid_set = None

    def sample(self) -> list[GpuFigures]:
        """The figures of every GPU (empty when NVML is unavailable or failed)."""
        if not self.available or self.nv is None:
            return []
        nv = self.nv
        try:
            xids = self._drain_xids()
            return [self._read(i, xids.get(i, [])) for i in range(nv.nvmlDeviceGetCount())]
        except nv.NVMLError as exc:
            log.warning("nvml.sample_failed", error=str(exc))
            return []

    def _read(self, index: int, xids: list[int]) -> GpuFigures:
        nv = self.nv
        assert nv is not None
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        memory = nv.nvmlDeviceGetMemoryInfo(handle)
        name = nv.nvmlDeviceGetName(handle)
        return {
            "index": index,
            "name": name.decode() if isinstance(name, bytes) else str(name),
            "memory_total": int(memory.total),
            "memory_used": int(memory.used),
            "memory_free": int(memory.free),
            "utilization_pct": self._optional(
                lambda: float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
            ),
            "temperature_c": self._optional(
                lambda: float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))
            ),
            "power_w": self._optional(lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0),
            "ecc_uncorrected": self._optional(
                lambda: int(
                    nv.nvmlDeviceGetTotalEccErrors(
                        handle, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC
                    )
                )
            ),
            "xid_events": xids,
        }

    def _optional(self, read: Any) -> Any:
        """NotSupported (consumer GPUs, MIG) means "unknown", not an error."""
        assert self.nv is not None
        try:
            return read()
        except self.nv.NVMLError:
            return None

    def _drain_xids(self) -> dict[int, list[int]]:
        nv = self.nv
        found: dict[int, list[int]] = {}
        if self._xid_set is None or nv is None:
            return found
        while True:
            try:
                data = nv.nvmlEventSetWait_v2(self._xid_set, 0)
            except nv.NVMLError:  # NVML_ERROR_TIMEOUT: no more events
                return found
            index = nv.nvmlDeviceGetIndex(data.device)
            found.setdefault(int(index), []).append(int(data.eventData))

    def stop(self) -> None:
        """Shut NVML down."""
        if self.available and self.nv is not None:
            with contextlib.suppress(self.nv.NVMLError):
                self.nv.nvmlShutdown()
            self.available = False
