"""A nak's delay is honoured on every delivery (a real nats-server, our consumer config).

Every durable wait in the system is a nak with a delay: a retry not due yet, a dispatch
held by an emergency stop, a job waiting for a backend. nats-server times that delay
against the consumer's `backoff` entry for the delivery when one is configured, so with
a backoff list the same 0.2 s delay came back at once for several deliveries and then
after more than 30 s. The durables must not have one, and an old durable that has one is
updated.
"""

from __future__ import annotations

import time

import pytest

from contracts import BusSettings
from contracts.streams import CONSUMERS
from cr_client import Bus
from cr_client.streams import consumer_config, ensure_consumer
from tests.support.natsd import NatsServer

pytestmark = pytest.mark.integration
DELAY_S = 0.2
SPEC = next(s for s in CONSUMERS if not s.unlimited_deliveries)


async def intervals(bus: Bus, deliveries: int) -> list[float]:
    """Publish one message on SPEC's stream and nak it with DELAY_S `deliveries` times."""
    await bus.js.publish(SPEC.filter_subjects[0].replace(">", "x.y").replace("*", "x"), b"{}")
    sub = await bus.js.pull_subscribe_bind(durable=SPEC.durable, stream=SPEC.stream)
    gaps, last = [], None
    for _ in range(deliveries):
        [msg] = await sub.fetch(1, timeout=20)  # the bug made one gap longer than 30 s
        now = time.monotonic()
        if last is not None:
            gaps.append(now - last)
        last = now
        await msg.nak(delay=DELAY_S)
    await sub.unsubscribe()
    return gaps


@pytest.fixture
async def bus(nats_server: NatsServer) -> Bus:
    settings = BusSettings(url=nats_server.url, ack_wait_s=30, max_deliver=20)
    bus = await Bus.connect(settings, ensure=False)
    for stream in await bus.js.streams_info():
        await bus.js.delete_stream(stream.config.name)
    await bus.ensure()
    yield bus  # type: ignore[misc]
    await bus.close()


async def test_every_redelivery_waits_the_delay_asked_for(bus: Bus) -> None:
    assert consumer_config(SPEC, bus.settings).backoff in (None, [])
    gaps = await intervals(bus, 9)
    assert min(gaps) >= DELAY_S * 0.9, gaps


async def test_an_old_durable_with_a_backoff_list_is_updated_to_drop_it(bus: Bus) -> None:
    await bus.js.delete_consumer(SPEC.stream, SPEC.durable)
    old = consumer_config(SPEC, bus.settings)
    old.backoff = [30.0, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0]
    await bus.js.add_consumer(SPEC.stream, old)
    await ensure_consumer(bus.js, SPEC, bus.settings)
    info = await bus.js.consumer_info(SPEC.stream, SPEC.durable)
    assert not info.config.backoff
    gaps = await intervals(bus, 9)
    assert min(gaps) >= DELAY_S * 0.9, gaps
