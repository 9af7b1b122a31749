"""`Bus.ensure` waits out a JetStream that is not answering yet (a fresh cluster electing its
meta leader) instead of failing the service's start, and says so when it never answers."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest

from contracts.errors import BusUnavailableError
from contracts.settings import BusSettings
from cr_client import bus as bus_module
from cr_client.bus import Bus


class Connection:
    def jetstream(self, timeout: float) -> object:
        return object()


def stub_bus(
    monkeypatch: pytest.MonkeyPatch, failures: int, error: Exception | None = None
) -> list[int]:
    calls: list[int] = []

    async def ensure_streams(js: Any, settings: BusSettings) -> None:
        calls.append(len(calls))
        if len(calls) <= failures:
            raise error or nats.errors.TimeoutError()

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(bus_module, "ensure_streams", ensure_streams)
    monkeypatch.setattr(bus_module.asyncio, "sleep", no_sleep)
    return calls


async def test_transient_errors_while_jetstream_elects_a_leader_are_waited_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = stub_bus(monkeypatch, failures=3)
    await Bus(Connection(), BusSettings()).ensure(window_s=60)  # type: ignore[arg-type]
    assert len(calls) == 4


async def test_a_cluster_that_cannot_place_replicas_yet_is_waited_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = stub_bus(monkeypatch, failures=2, error=BusUnavailableError("cluster not ready"))
    await Bus(Connection(), BusSettings()).ensure(window_s=60)  # type: ignore[arg-type]
    assert len(calls) == 3


async def test_a_jetstream_that_never_answers_is_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = stub_bus(monkeypatch, failures=10**6)
    with pytest.raises(BusUnavailableError, match="JetStream not ready"):
        await Bus(Connection(), BusSettings()).ensure(window_s=0)  # type: ignore[arg-type]
    assert len(calls) == 1
