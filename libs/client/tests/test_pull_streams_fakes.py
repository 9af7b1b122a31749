"""`BatchPull`, `ensure_streams` and `request_stats` against in-memory stand-ins for the NATS
connection and JetStream API (the seam only; the pull protocol is played by a tiny fake server
that answers each request's reply subject synchronously, as nats-server's replies would come)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api as js_api
from nats.js.errors import APIError, BadRequestError, BucketNotFoundError, NotFoundError

from contracts import BusSettings, subjects
from contracts.errors import BusUnavailableError
from contracts.rpc import StatsUnavailableError
from contracts.streams import CONSUMERS, KV_BUCKETS
from cr_client.bus import Bus
from cr_client.pull import BatchPull
from cr_client.rpc import request_stats
from cr_client.streams import consumer_config, ensure_streams, filters_of, stream_configs


def status(subject: str, code: str, description: str = "") -> Msg:
    return Msg(None, subject=subject, headers={"Status": code, "Description": description})  # type: ignore[arg-type]


@dataclass
class PullServer:
    """Plays JetStream's side of pull requests: stored messages, and how requests end."""

    stored: list[bytes] = field(default_factory=list)
    refuse: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    cb: Any = None
    subscribed: str = ""
    unsubscribed: int = 0
    hold: bool = False
    """Leave a lingering request on an empty store open (the test delivers to it later)."""
    held: asyncio.Event = field(default_factory=asyncio.Event)

    def new_inbox(self) -> str:
        return "_INBOX.x"

    async def subscribe(self, subject: str, cb: Any, **_: Any) -> Any:
        self.subscribed, self.cb = subject, cb

        async def unsubscribe() -> None:
            self.unsubscribed += 1

        return SimpleNamespace(unsubscribe=unsubscribe)

    async def publish(self, subject: str, data: bytes, reply: str) -> None:
        request = json.loads(data)
        self.requests.append(request)
        await self.cb(status(reply, "100"))  # a heartbeat is ignored
        await self.cb(status("_INBOX.x.0", "408"))  # an older request ending is ignored
        if self.refuse is not None:
            await self.cb(status(reply, self.refuse, "consumer deleted"))
            return
        for _ in range(min(request["batch"], len(self.stored))):
            await self.cb(Msg(None, subject="job.x.1", reply="ack", data=self.stored.pop(0)))  # type: ignore[arg-type]
        if request.get("no_wait") or not (self.stored or self.hold):
            await self.cb(status(reply, "404" if request.get("no_wait") else "408"))
        elif self.hold:
            self.held.set()


async def test_a_fetch_takes_what_is_there_without_waiting() -> None:
    server = PullServer(stored=[b"1", b"2", b"3"])
    pull = await BatchPull(server, "EVENTS", "durable").open()  # type: ignore[arg-type]
    assert server.subscribed == "_INBOX.x.*"
    got = await pull.fetch(2, timeout=5)
    assert [m.data for m in got] == [b"1", b"2"]
    assert server.requests == [{"batch": 2, "no_wait": True}]
    assert [m.data for m in await pull.fetch(5, timeout=5)] == [b"3"]
    await pull.unsubscribe()
    await pull.unsubscribe()
    assert server.unsubscribed == 1


async def test_an_empty_consumer_gets_a_lingering_request_then_a_timeout() -> None:
    server = PullServer()
    pull = await BatchPull(server, "EVENTS", "durable").open()  # type: ignore[arg-type]
    with pytest.raises(NatsTimeout):
        await pull.fetch(3, timeout=5)
    first, lingering = server.requests
    assert first == {"batch": 3, "no_wait": True}
    assert lingering["batch"] == 3 and 1_000_000 <= lingering["expires"] < 5_000_000_000


async def test_a_pull_that_does_not_fill_returns_with_the_first_message_to_come() -> None:
    server = PullServer(hold=True)
    pull = await BatchPull(server, "EVENTS", "durable", fill=False).open()  # type: ignore[arg-type]
    fetching = asyncio.create_task(pull.fetch(3, timeout=60))
    await server.held.wait()
    await server.cb(Msg(None, subject="job.x.1", reply="ack", data=b"1"))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # one turn of the loop: not held for two more, or a minute
    assert fetching.done()
    assert [m.data for m in fetching.result()] == [b"1"]
    assert server.requests[-1]["batch"] == 3


async def test_a_refused_pull_raises_the_servers_error() -> None:
    server = PullServer(refuse="400")
    pull = await BatchPull(server, "EVENTS", "durable").open()  # type: ignore[arg-type]
    with pytest.raises(APIError) as caught:
        await pull.fetch(1, timeout=5)
    assert caught.value.code == 400 and caught.value.description == "consumer deleted"


@dataclass
class FakeStreamsJS:
    """The JetStream management calls `ensure_streams` makes, recorded."""

    streams: set[str] = field(default_factory=set)
    consumers: dict[tuple[str, str], js_api.ConsumerConfig] = field(default_factory=dict)
    buckets: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    refuse: APIError | None = None  # what a cluster that cannot place replicas answers

    async def add_stream(self, config: js_api.StreamConfig) -> None:
        if self.refuse is not None:
            raise self.refuse
        if config.name in self.streams:
            raise BadRequestError(code=400, err_code=10058, description="stream name in use")
        self.streams.add(str(config.name))
        self.calls.append(f"add {config.name}")

    async def update_stream(self, config: js_api.StreamConfig) -> None:
        if config.name not in self.streams:
            raise NotFoundError(code=404, err_code=10059, description="stream not found")
        self.calls.append(f"update {config.name}")

    async def consumer_info(self, stream: str, durable: str) -> Any:
        if (stream, durable) not in self.consumers:
            raise NotFoundError
        return SimpleNamespace(config=self.consumers[stream, durable])

    async def add_consumer(self, stream: str, config: js_api.ConsumerConfig) -> None:
        self.consumers[stream, str(config.durable_name)] = config
        self.calls.append(f"consumer {config.durable_name}")

    async def key_value(self, bucket: str) -> None:
        if bucket not in self.buckets:
            raise BucketNotFoundError

    async def create_key_value(self, config: js_api.KeyValueConfig) -> None:
        self.buckets.add(config.bucket)
        self.calls.append(f"bucket {config.bucket}")


async def test_ensure_creates_everything_once_then_only_updates_streams() -> None:
    js, settings = FakeStreamsJS(), BusSettings(replicas=3, max_deliver=7)
    await ensure_streams(js, settings)  # type: ignore[arg-type]
    assert js.streams == {c.name for c in stream_configs(settings)}
    assert len(js.consumers) == len(CONSUMERS)
    assert js.buckets == {bucket for bucket, _, _ in KV_BUCKETS}
    js.calls.clear()
    await ensure_streams(js, settings)  # type: ignore[arg-type]
    assert all(call.startswith("update ") for call in js.calls)


async def test_a_cluster_that_cannot_place_replicas_yet_is_transient_not_a_crash() -> None:
    # Seen on a 3-node cluster still forming: add_stream answered 10005 and the old code
    # took any BadRequest for "exists", so update_stream's "stream not found" ended the
    # service, which the stack then restarted.
    placement = BadRequestError(code=400, err_code=10005, description="no suitable peers")
    js = FakeStreamsJS(refuse=placement)
    with pytest.raises(BusUnavailableError, match="cluster not ready") as raised:
        await ensure_streams(js, BusSettings(replicas=3))  # type: ignore[arg-type]
    assert raised.value.__cause__ is placement and js.calls == []
    js.refuse = None
    await ensure_streams(js, BusSettings(replicas=3))  # type: ignore[arg-type]
    assert len(js.streams) == len(stream_configs(BusSettings()))


async def test_a_stream_config_the_server_rejects_is_not_waited_for() -> None:
    bad = BadRequestError(code=400, err_code=10052, description="replicas > 1 not supported")
    with pytest.raises(BadRequestError) as raised:
        await ensure_streams(FakeStreamsJS(refuse=bad), BusSettings(replicas=3))  # type: ignore[arg-type]
    assert raised.value is bad


async def test_a_durable_with_a_backoff_or_old_filters_is_updated_keeping_its_limit() -> None:
    js, settings = FakeStreamsJS(), BusSettings()
    spec, other = CONSUMERS[0], CONSUMERS[1]
    old = consumer_config(spec, settings)
    old.backoff, old.max_deliver = [1.0, 5.0], 3
    js.consumers[spec.stream, spec.durable] = old
    stale = consumer_config(other, settings)
    stale.filter_subjects, stale.filter_subject = None, "old.subject"
    js.consumers[other.stream, other.durable] = stale
    await ensure_streams(js, settings)  # type: ignore[arg-type]
    updated = js.consumers[spec.stream, spec.durable]
    assert updated.backoff is None and updated.max_deliver == 3
    assert filters_of(js.consumers[other.stream, other.durable]) == set(other.filter_subjects)
    assert filters_of(js_api.ConsumerConfig()) == set()


def test_stream_configs_follow_the_settings() -> None:
    events, telemetry, dead = stream_configs(
        BusSettings(events_max_age_days=2, telemetry_max_age_hours=1, replicas=3)
    )
    assert events.name == subjects.EVENTS_STREAM and events.max_age == 2 * 86_400
    assert telemetry.max_age == 3600 and dead.num_replicas == 3
    assert stream_configs(BusSettings())[0].max_age is None  # 0 days: kept forever
    unlimited = next(s for s in CONSUMERS if s.unlimited_deliveries)
    assert consumer_config(unlimited, BusSettings()).max_deliver == -1


@dataclass
class RpcNC:
    """A connection whose requests get `reply` (bytes) or raise it."""

    reply: bytes | BaseException
    max_payload: int = 1_048_576
    asked: list[str] = field(default_factory=list)

    def jetstream(self, timeout: float) -> None:
        return None

    async def request(self, subject: str, data: bytes, timeout: float) -> Any:
        self.asked.append(subject)
        if isinstance(self.reply, BaseException):
            raise self.reply
        return SimpleNamespace(data=self.reply)


async def test_request_stats_returns_the_answer_or_says_why_not() -> None:
    ok = RpcNC(b'{"jobs": 3}')
    assert await request_stats(Bus(ok, BusSettings())) == {"jobs": 3}  # type: ignore[arg-type]
    assert ok.asked == [subjects.ANALYTICS_QUERY]
    with pytest.raises(StatsUnavailableError, match="chdb down"):
        await request_stats(Bus(RpcNC(b'{"error": "chdb down"}'), BusSettings()))  # type: ignore[arg-type]
    with pytest.raises(StatsUnavailableError, match="no analytics"):
        await request_stats(Bus(RpcNC(NatsTimeout()), BusSettings()))  # type: ignore[arg-type]
