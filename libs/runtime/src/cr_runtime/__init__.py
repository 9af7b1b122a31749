"""The runtime every comfy-recovery service runs on: durable consumers, the metered bus,
the service shell (signals, health endpoint, logging) and its Prometheus metrics."""

from cr_runtime.bus import MeteredBus
from cr_runtime.consumer import Consumer, Delivery
from cr_runtime.logs import configure_logging
from cr_runtime.service import Service, ServiceCrashedError, serve

__all__ = [
    "Consumer",
    "Delivery",
    "MeteredBus",
    "Service",
    "ServiceCrashedError",
    "configure_logging",
    "serve",
]
