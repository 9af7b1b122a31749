"""The shell every service runs in: connect, build, run consumers and tasks, stop on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from contracts.errors import ContractsError, TransientError
from contracts.settings import BusSettings
from cr_client.backoff import Backoff
from cr_client.bus import ENSURE_WINDOW_S, Bus
from cr_client.nats_errors import TRANSIENT
from cr_runtime.bus import MeteredBus
from cr_runtime.consumer import Consumer
from cr_runtime.health import ReadyCheck, health_app, readiness, start_health_server
from cr_runtime.logs import configure_logging
from cr_runtime.settings import ServiceSettings

log = structlog.get_logger(__name__)
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
BUILD_BACKOFF = Backoff(0.5, 5.0)
NOT_NOW: tuple[type[BaseException], ...] = (*TRANSIENT, TransientError)


class ServiceCrashedError(ContractsError):
    """A consumer or background task of the service died; raised after a clean stop."""

    error_code = "SERVICE_CRASHED"


@dataclass
class Service:
    """What a running service exposes to the shell: consumers, background tasks, checks."""

    consumers: Sequence[Consumer] = ()
    tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    ready_checks: Sequence[ReadyCheck] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


def main(
    name: str,
    settings_class: type[SettingsT],
    build: Callable[[Bus, SettingsT], Awaitable[Service]],
) -> None:
    """Every service's entry point: its settings from the environment, then `run_service`
    until SIGINT/SIGTERM (a crash exits non-zero)."""
    asyncio.run(run_service(name, settings_class(), build))


async def run_service(
    name: str,
    settings: SettingsT,
    build: Callable[[Bus, SettingsT], Awaitable[Service]],
    stop_event: asyncio.Event | None = None,
) -> None:
    """Every service's ``run``: logging at ``settings.log_level``, then `serve` on
    ``settings.nats`` with the health endpoint on ``settings.health_port``; `build` gets
    the connected bus and `settings`."""
    configure_logging(name, settings.log_level)

    async def built(bus: Bus) -> Service:
        return await build(bus, settings)

    await serve(name, settings.nats, built, health_port=settings.health_port, stop_event=stop_event)


async def serve(
    name: str,
    bus_settings: BusSettings,
    build: Callable[[Bus], Awaitable[Service]],
    *,
    health_port: int | None = None,
    stop_event: asyncio.Event | None = None,
) -> None:
    """Connect, build the service, run it until SIGINT/SIGTERM, then stop cleanly.

    Consumers finish the batch in hand; nothing unacknowledged is lost (it is redelivered
    to the next instance).
    """
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    bus = await MeteredBus.connect(bus_settings, name=name)
    service = await build_patiently(build, bus)
    server = None
    if health_port is not None:
        ready = readiness(bus, service.consumers, service.ready_checks)
        server = await start_health_server(health_app(ready), health_port)
    runners = [asyncio.create_task(c.run(), name=c.spec.durable) for c in service.consumers]
    background = [asyncio.create_task(t()) for t in service.tasks]
    log.info("service.started", consumers=[c.spec.durable for c in service.consumers])
    died = await _until_stopped_or_dead(stop, runners, background)
    for task in background:
        task.cancel()
    for consumer in service.consumers:
        consumer.stop()
    if runners:
        await asyncio.wait(runners, timeout=10)
    for task in runners:
        task.cancel()
    for hook in service.on_stop:
        await hook()
    if server is not None:
        await server.cleanup()
    await bus.close()
    log.info("service.stopped")
    if died:
        # a non-zero exit, so the supervisor (or Kubernetes) notices and restarts us
        raise ServiceCrashedError(f"{name}: {died[0]!r}") from died[0]


async def build_patiently(
    build: Callable[[Bus], Awaitable[Service]],
    bus: Bus,
    window_s: float = ENSURE_WINDOW_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Service:
    """`build`, retried while JetStream answers "not now" for up to `window_s`.

    A build reads its state from the bus (a replay, a KV, the stream's last sequence). On a
    cluster that has just formed, or lost a node, those reads time out until each stream
    has elected its leader, although `Bus.ensure` already got its answers; such a start is
    waited out rather than ended with a crash and a supervisor's restart.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + window_s
    attempt = 0
    while True:
        try:
            return await build(bus)
        except NOT_NOW as exc:
            attempt += 1
            if loop.time() >= give_up:
                raise
            log.warning("service.build_retry", attempt=attempt, error=repr(exc))
            await sleep(BUILD_BACKOFF.delay(attempt))


async def _until_stopped_or_dead(
    stop: asyncio.Event, runners: list[asyncio.Task[None]], background: list[asyncio.Task[None]]
) -> list[BaseException]:
    """Wait for a stop request, a consumer ending, or any task raising.

    A background task that returns normally (e.g. the GPU sampler without NVML) is done,
    not dead; the service goes on.
    """
    stopper = asyncio.create_task(stop.wait())
    pending: set[asyncio.Task[Any]] = {stopper, *runners, *background}
    while True:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        died = [t.exception() for t in done if t is not stopper and t.exception() is not None]
        for exc in died:
            log.error("service.task_died", error=repr(exc))
        if died or stopper in done or any(t in done for t in runners):
            stopper.cancel()
            return [e for e in died if e is not None]
