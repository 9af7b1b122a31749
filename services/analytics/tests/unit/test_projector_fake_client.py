"""The projector and the store without ClickHouse: the real `Store` (migrations, insert,
error translation) on a fake clickhouse-connect client, and deliveries whose NATS message
is faked (its ack subject and +WPI). Nothing is acked that is not stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from clickhouse_connect.driver import exceptions as ch

from analytics.errors import StoreUnavailableError
from analytics.projection import COLUMNS
from analytics.projector import Projector, RetryPolicy
from analytics.store import EVENTS_TABLE, Store, StoreConfig
from cr_runtime.consumer import Delivery
from tests.support.samples import SAMPLES


@dataclass
class FakeClient:
    """What `Store` calls on a clickhouse-connect client; `down` inserts raise as an
    unreachable server does."""

    down: int = 0
    commands: list[str] = field(default_factory=list)
    inserts: list[tuple[str, list[Any], str]] = field(default_factory=list)
    database: str = ""
    closed: bool = False

    def command(self, sql: str) -> None:
        self.commands.append(sql)

    def query(self, sql: str, parameters: Any = None) -> Any:
        if sql.startswith("DESCRIBE"):
            rows = [{"name": name, "type": "String"} for name in COLUMNS]
            return SimpleNamespace(named_results=lambda: rows)
        return SimpleNamespace(result_rows=[], named_results=lambda: [])

    def insert(self, table: str, rows: Any, **kw: Any) -> None:
        if table == EVENTS_TABLE and self.down > 0:
            self.down -= 1
            raise ch.OperationalError("connection refused")
        token = kw.get("settings", {}).get("insert_deduplication_token", "")
        self.inserts.append((table, list(rows), token))

    def close(self) -> None:
        self.closed = True

    def events(self) -> list[tuple[list[Any], str]]:
        return [(rows, token) for table, rows, token in self.inserts if table == EVENTS_TABLE]


@dataclass
class FakeMsg:
    """The part of a JetStream message the projector reads, and +WPI."""

    seq: int
    num_delivered: int = 1
    in_progress_sent: int = 0

    @property
    def reply(self) -> str:
        """The ack subject JetStream gives a message: stream, consumer, deliveries, seqs."""
        return f"$JS.ACK.EVENTS.analytics-events.{self.num_delivered}.{self.seq}.{self.seq}.0.0"

    async def in_progress(self) -> None:
        self.in_progress_sent += 1


def batch(delivered: int = 1) -> list[Delivery]:
    return [
        Delivery(event, FakeMsg(seq, delivered))  # type: ignore[arg-type]
        for seq, event in enumerate(SAMPLES[:3], start=1)
    ]


@pytest.fixture
async def store_client() -> Any:
    client = FakeClient()
    store = Store(StoreConfig(database="cr_test"), connect=lambda _: client)
    yield store, client
    await store.close()


async def test_a_batch_is_one_insert_and_its_redelivery_carries_the_same_token(
    store_client: Any,
) -> None:
    store, client = store_client
    projector = Projector(store, RetryPolicy())
    await projector.handle(batch())
    await projector.handle(batch(delivered=2))
    [(first, token1), (again, token2)] = client.events()
    assert [row.event_id for row in first] == [e.event_id for e in SAMPLES[:3]]
    assert [row.stream_seq for row in first] == [1, 2, 3]
    assert token1 == token2 and first == again
    assert any("schema_migrations" in sql for sql in client.commands)
    assert client.database == "cr_test"


async def test_a_store_outage_naks_the_batch_with_the_policy_delay(store_client: Any) -> None:
    store, client = store_client
    client.down = 1
    projector = Projector(store, RetryPolicy(initial_s=2.0, max_s=30.0, max_deliver=20))
    with pytest.raises(StoreUnavailableError) as refused:
        await projector.handle(batch(delivered=3))
    assert refused.value.retry_after_s == 8.0  # 2 s doubled per delivery
    assert client.events() == []


async def test_a_batch_past_half_its_deliveries_is_held_until_the_store_takes_it(
    store_client: Any,
) -> None:
    store, client = store_client
    client.down = 3  # the first insert and two retries fail
    projector = Projector(store, RetryPolicy(initial_s=0.0, max_deliver=4, hold_s=0.0))
    held = batch(delivered=2)
    await projector.handle(held)
    assert len(client.events()) == 1
    assert [d.msg.in_progress_sent for d in held] == [3, 3, 3]  # +WPI before each retry
