"""The health endpoint answers /healthz, /readyz and /metrics as it always has."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from contracts import subjects
from cr_client import Bus
from cr_runtime import Consumer
from cr_runtime.health import health_app, readiness, start_health_server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Flag:
    def __init__(self) -> None:
        self.value = True

    async def __call__(self) -> bool:
        return self.value


@pytest.fixture
async def served() -> AsyncIterator[tuple[httpx.AsyncClient, Flag]]:
    flag, port = Flag(), _free_port()
    runner = await start_health_server(health_app(flag), port, "127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            yield http, flag
    finally:
        await runner.cleanup()


async def test_healthz_is_ok_whatever_readiness(served: tuple[httpx.AsyncClient, Flag]) -> None:
    http, flag = served
    flag.value = False
    reply = await http.get("/healthz")
    assert (reply.status_code, reply.text) == (200, "ok\n")
    assert reply.headers["content-type"] == "text/plain"


async def test_readyz_follows_the_checks(served: tuple[httpx.AsyncClient, Flag]) -> None:
    http, flag = served
    ready = await http.get("/readyz?verbose=1")
    flag.value = False
    not_ready = await http.get("/readyz")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert (not_ready.status_code, not_ready.text) == (503, "not ready\n")
    assert not_ready.headers["content-type"] == "text/plain"


async def test_metrics_and_unknown_paths(served: tuple[httpx.AsyncClient, Flag]) -> None:
    http, _ = served
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"] == CONTENT_TYPE_LATEST
    assert "# TYPE" in metrics.text
    missing = await http.get("/nope/deeper")
    assert (missing.status_code, missing.text) == (404, "not found\n")
    assert (await http.head("/healthz")).status_code == 200


@pytest.mark.integration
async def test_readiness_needs_the_consumers_running_and_every_check(bus: Bus) -> None:
    consumer = Consumer(bus, subjects.DURABLE_CLASSIFIER, lambda event, delivery: _noop())
    flag = Flag()
    assert await readiness(bus, [], [flag])()
    assert not await readiness(bus, [consumer], [flag])()  # not started
    consumer.running = True
    assert await readiness(bus, [consumer], [flag])()
    flag.value = False
    assert not await readiness(bus, [consumer], [flag])()


async def _noop() -> None:
    return None
