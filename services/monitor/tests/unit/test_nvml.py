"""NVML paths with a fake `pynvml` module (no GPU exists here)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from monitor.adapters.nvml import NvmlProbe
from monitor.telemetry import gpu_from_nvml


class NVMLError(Exception):
    pass


class LibraryNotFound(NVMLError):
    pass


class NotSupported(NVMLError):
    pass


class Timeout(NVMLError):
    pass


def fake_nvml(*, init_error: Exception | None = None, ecc_supported: bool = True) -> Any:
    xids = [SimpleNamespace(device="h0", eventData=79)]

    def wait(_set: Any, _timeout: int) -> Any:
        if xids:
            return xids.pop()
        raise Timeout("timeout")

    def ecc(*_: Any) -> int:
        if not ecc_supported:
            raise NotSupported("not supported")
        return 2

    def init() -> None:
        if init_error is not None:
            raise init_error

    return SimpleNamespace(
        NVMLError=NVMLError,
        NVML_TEMPERATURE_GPU=0,
        NVML_MEMORY_ERROR_TYPE_UNCORRECTED=1,
        NVML_VOLATILE_ECC=0,
        nvmlEventTypeXidCriticalError=8,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"h{i}",
        nvmlDeviceGetIndex=lambda h: 0,
        nvmlDeviceGetName=lambda h: b"NVIDIA RTX 4090",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=24, used=20, free=4),
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=97, memory=50),
        nvmlDeviceGetTemperature=lambda h, s: 71,
        nvmlDeviceGetPowerUsage=lambda h: 350_000,
        nvmlDeviceGetTotalEccErrors=ecc,
        nvmlEventSetCreate=lambda: "set",
        nvmlDeviceRegisterEvents=lambda h, t, s: None,
        nvmlEventSetWait_v2=wait,
    )


def test_no_driver_is_reported_once_and_sampling_yields_nothing() -> None:
    probe = NvmlProbe(fake_nvml(init_error=LibraryNotFound("NVML Shared Library Not Found")))
    assert probe.start() is False
    assert "LibraryNotFound" in probe.reason
    assert probe.sample() == []


def test_missing_package_is_not_an_error() -> None:
    probe = NvmlProbe(None)
    assert probe.start() is False and probe.sample() == []


def test_a_sample_reads_memory_utilisation_power_ecc_and_xid() -> None:
    probe = NvmlProbe(fake_nvml())
    assert probe.start()
    [reading] = probe.sample()
    assert reading["name"] == "NVIDIA RTX 4090"
    assert (reading["memory_total"], reading["memory_free"]) == (24, 4)
    assert reading["utilization_pct"] == 97 and reading["power_w"] == 350.0
    assert reading["ecc_uncorrected"] == 2 and reading["xid_events"] == [79]
    [again] = probe.sample()
    assert again["xid_events"] == []


def test_unsupported_fields_are_unknown_not_errors() -> None:
    probe = NvmlProbe(fake_nvml(ecc_supported=False))
    probe.start()
    [reading] = probe.sample()
    assert reading["ecc_uncorrected"] is None and reading["memory_used"] == 20


def test_a_reading_becomes_a_gpu_sample_of_the_host_under_the_wire_names() -> None:
    probe = NvmlProbe(fake_nvml())
    probe.start()
    [reading] = probe.sample()
    sample = gpu_from_nvml("host-1", reading)
    assert (sample.backend_id, sample.sampled_via, sample.index) == ("host-1", "nvml", 0)
    assert (sample.memory_total, sample.memory_used, sample.memory_free) == (24, 20, 4)
    assert sample.xid_events == [79] and sample.ecc_uncorrected == 2
