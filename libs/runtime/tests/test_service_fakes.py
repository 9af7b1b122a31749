"""The service shell (`serve`, `run_service`), readiness, the metered bus and the logging
setup, without a nats-server: ``nats.connect`` (the library's seam) returns an in-memory
connection whose JetStream context takes the stream definitions and binds pull consumers
that only wait for their stop; the connect probe finds a real listening socket."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import nats
import pytest
import structlog
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import PubAck
from nats.js.errors import BadRequestError, NotFoundError
from prometheus_client import REGISTRY

from contracts import BusSettings, subjects
from cr_client.bus import Bus
from cr_runtime.bus import MeteredBus
from cr_runtime.consumer import Consumer
from cr_runtime.health import readiness
from cr_runtime.logs import CLIENT_LOGGER, configure_logging
from cr_runtime.service import (
    Service,
    ServiceCrashedError,
    build_patiently,
    run_service,
    serve,
)
from cr_runtime.settings import ServiceSettings


@dataclass
class WaitingSub:
    """A pull subscription with nothing to deliver: each fetch waits for its consumer's stop."""

    consumer: list[Consumer]

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        await self.consumer[0]._stopping.wait()
        raise NatsTimeout

    async def unsubscribe(self) -> None:
        return None


@dataclass
class ShellJS:
    """What `ensure_streams` and a consumer's bind ask of JetStream."""

    consumer: list[Consumer] = field(default_factory=list)
    configs: dict[str, Any] = field(default_factory=dict)

    async def add_stream(self, config: Any) -> None:
        raise BadRequestError(code=400, err_code=10058)  # already there: updated instead

    async def update_stream(self, config: Any) -> None:
        return None

    async def consumer_info(self, stream: str, durable: str) -> Any:
        if durable not in self.configs:
            raise NotFoundError
        return SimpleNamespace(config=self.configs[durable], num_pending=0)

    async def add_consumer(self, stream: str, config: Any) -> None:
        self.configs[config.durable_name] = config

    async def key_value(self, bucket: str) -> None:
        return None

    async def pull_subscribe_bind(self, durable: str, stream: str) -> WaitingSub:
        return WaitingSub(self.consumer)


@dataclass
class ShellNC:
    js: ShellJS = field(default_factory=ShellJS)
    is_connected: bool = True
    is_closed: bool = False
    max_payload: int = 1_048_576
    drained: int = 0

    def jetstream(self, timeout: float) -> ShellJS:
        return self.js

    async def subscribe(self, subject: str, cb: Any) -> Any:
        return SimpleNamespace(unsubscribe=self.drain)

    async def drain(self) -> None:
        self.drained += 1
        self.is_closed = True


@pytest.fixture
async def nats_url() -> AsyncIterator[str]:
    """A listening socket for the connect probe (nothing is ever spoken on it)."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"nats://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


@pytest.fixture
async def nc(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ShellNC]:
    conn = ShellNC()

    async def connect(**_: Any) -> ShellNC:
        return conn

    monkeypatch.setattr(nats, "connect", connect)
    yield conn
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # serve() installed these on the test loop
        assert loop.remove_signal_handler(sig)


@pytest.fixture
def logging_restored() -> Iterator[None]:
    config, client = structlog.get_config(), logging.getLogger(CLIENT_LOGGER)
    saved = (client.handlers[:], client.level, client.propagate)
    yield
    structlog.configure(**config)
    structlog.contextvars.clear_contextvars()
    client.handlers, client.level, client.propagate = saved[0], saved[1], saved[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_runs_consumers_and_tasks_and_stops_cleanly(nats_url: str, nc: ShellNC) -> None:
    stop, port = asyncio.Event(), free_port()
    seen: list[object] = []

    async def build(bus: Bus) -> Service:
        assert isinstance(bus, MeteredBus)
        consumer = Consumer(bus, subjects.DURABLE_SUBMITTER_JOBS, lambda e, d: asyncio.sleep(0))
        nc.js.consumer.append(consumer)

        async def probe() -> None:
            assert consumer.running  # its task was started first and is waiting for messages
            async with httpx.AsyncClient() as http:
                ready = await http.get(f"http://127.0.0.1:{port}/readyz")
            seen.append(ready.status_code)
            stop.set()

        async def hook() -> None:
            seen.append("on_stop")

        return Service(consumers=[consumer], tasks=[probe], on_stop=[hook])

    await serve("svc", BusSettings(url=nats_url), build, health_port=port, stop_event=stop)
    assert seen == [200, "on_stop"]
    assert not nc.js.consumer[0].running
    assert subjects.DURABLE_SUBMITTER_JOBS in nc.js.configs
    assert nc.drained == 1  # the bus closed (the consumer's advisory listener shares it)


async def test_a_dying_task_stops_the_service_and_raises_after_cleanup(
    nats_url: str, nc: ShellNC, logging_restored: None
) -> None:
    hooks: list[str] = []

    async def boom() -> None:
        raise RuntimeError("sampler crashed")

    async def done() -> None:
        return None  # a task that ends normally is not a crash

    async def hook() -> None:
        hooks.append("closed")

    async def build(bus: Bus, settings: ServiceSettings) -> Service:
        return Service(tasks=[done, boom], on_stop=[hook])

    settings = ServiceSettings(nats=BusSettings(url=nats_url), log_level="WARNING")
    with pytest.raises(ServiceCrashedError, match="sampler crashed"):
        await run_service("svc", settings, build)
    assert hooks == ["closed"] and nc.is_closed


async def test_a_build_that_times_out_while_streams_elect_leaders_is_retried() -> None:
    attempts: list[int] = []
    slept: list[float] = []

    async def build(bus: Bus) -> Service:
        attempts.append(1)
        if len(attempts) < 3:
            raise NatsTimeout  # stream_info on a stream whose leader is being elected
        return Service()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    bus = Bus(ShellNC(), BusSettings())  # type: ignore[arg-type]
    service = await build_patiently(build, bus, window_s=60, sleep=sleep)
    assert isinstance(service, Service) and len(attempts) == 3
    assert len(slept) == 2 and slept[1] > slept[0]


async def test_a_build_that_keeps_timing_out_or_fails_for_real_raises() -> None:
    async def timing_out(bus: Bus) -> Service:
        raise NatsTimeout

    async def broken(bus: Bus) -> Service:
        raise KeyError("settings")

    bus = Bus(ShellNC(), BusSettings())  # type: ignore[arg-type]
    with pytest.raises(NatsTimeout):
        await build_patiently(timing_out, bus, window_s=0)
    with pytest.raises(KeyError):
        await build_patiently(broken, bus, window_s=60)


async def test_readiness_needs_the_connection_running_consumers_and_every_check() -> None:
    nc_state = SimpleNamespace(is_connected=True)
    bus = SimpleNamespace(nc=nc_state)
    consumer = SimpleNamespace(running=True)
    answers = [True, True]

    async def check() -> bool:
        return answers.pop(0)

    ready = readiness(bus, [consumer], [check, check])  # type: ignore[arg-type, list-item]
    assert await ready() is True
    answers[:] = [True, False]
    assert await ready() is False
    answers[:] = [True, True]
    consumer.running = False
    assert await ready() is False
    consumer.running, nc_state.is_connected = True, False
    assert await ready() is False
    assert answers == [True, True]  # checks are not asked when the bus or a consumer is down


def test_the_metered_bus_counts_stored_events_and_duplicates() -> None:
    bus = MeteredBus(ShellNC(), BusSettings())  # type: ignore[arg-type]

    def count(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"family": "job.failed"}) or 0.0

    before = (count("cr_events_published_total"), count("cr_events_duplicate_total"))
    bus.on_published("job.failed.j1", PubAck(stream="EVENTS", seq=1))
    bus.on_published("job.failed.j1", PubAck(stream="EVENTS", seq=1, duplicate=True))
    assert count("cr_events_published_total") == before[0] + 2
    assert count("cr_events_duplicate_total") == before[1] + 1


def test_logs_go_as_json_lines_to_the_current_stderr_with_the_service(
    capsys: pytest.CaptureFixture[str], logging_restored: None
) -> None:
    configure_logging("svc", "INFO")
    structlog.get_logger("t").info("hello", n=1)
    logging.getLogger(CLIENT_LOGGER).warning("publish.retry", extra={"attempt": 2})
    logging.getLogger(CLIENT_LOGGER).debug("below the level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["event"], x["service"], x["level"]) for x in lines] == [
        ("hello", "svc", "info"),
        ("publish.retry", "svc", "warning"),
    ]
    assert lines[0]["n"] == 1 and lines[1]["attempt"] == 2
    assert capsys.readouterr().out == ""
