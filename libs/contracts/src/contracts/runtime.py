"""The shell every service runs in: logging, signals, health/readiness/metrics endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.bus import Bus
from contracts.consumer import Consumer
from contracts.errors import ContractsError
from contracts.settings import BusSettings

log = structlog.get_logger(__name__)


class ServiceCrashedError(ContractsError):
    """A consumer or background task of the service died; raised after a clean stop."""

    error_code = "SERVICE_CRASHED"


ReadyCheck = Callable[[], Awaitable[bool]]


class LiveStderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured:
    a redirection (pytest's capture, a CLI run in process) may replace and close the old one."""

    def write(self, text: str) -> int:
        """Write to the current stderr."""
        return sys.stderr.write(text)

    def flush(self) -> None:
        """Flush the current stderr."""
        sys.stderr.flush()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stdlib handler that writes to the current ``sys.stderr`` (see `LiveStderr`)."""

    @property
    def stream(self) -> Any:
        """The current stderr."""
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        del value  # always the current stderr


def configure_logging(service: str, level: str = "INFO") -> None:
    """structlog once per process: JSON when stderr is not a TTY, console otherwise."""
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=LiveStderr()),  # type: ignore[arg-type]
    )
    structlog.contextvars.bind_contextvars(service=service)


@dataclass
class Service:
    """What a running service exposes to the shell: consumers, background tasks, checks."""

    consumers: Sequence[Consumer] = ()
    tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    ready_checks: Sequence[ReadyCheck] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


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
    bus = await Bus.connect(bus_settings, name=name)
    service = await build(bus)
    server = None
    if health_port is not None:
        server = await start_health_server(bus, service, health_port)
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
        server.close()
    await bus.close()
    log.info("service.stopped")
    if died:
        # a non-zero exit, so the supervisor (or Kubernetes) notices and restarts us
        raise ServiceCrashedError(f"{name}: {died[0]!r}") from died[0]


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


async def start_health_server(bus: Bus, service: Service, port: int) -> asyncio.AbstractServer:
    """/healthz (alive), /readyz (NATS connected, consumers running, checks pass), /metrics."""

    async def ready() -> bool:
        if not bus.nc.is_connected:
            return False
        if any(not c.running for c in service.consumers):
            return False
        for check in service.ready_checks:
            if not await check():
                return False
        return True

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "/"
            status, ctype, body = await _route(path.split("?")[0], ready)
            head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}"
            writer.write(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "0.0.0.0", port)


async def _route(path: str, ready: Callable[[], Awaitable[bool]]) -> tuple[str, str, bytes]:
    if path == "/healthz":
        return "200 OK", "text/plain", b"ok\n"
    if path == "/readyz":
        ok = await ready()
        return (
            ("200 OK" if ok else "503 Service Unavailable"),
            "text/plain",
            (b"ready\n" if ok else b"not ready\n"),
        )
    if path == "/metrics":
        return "200 OK", CONTENT_TYPE_LATEST, generate_latest()
    return "404 Not Found", "text/plain", b"not found\n"
