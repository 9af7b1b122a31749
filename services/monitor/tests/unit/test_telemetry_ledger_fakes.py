"""Telemetry and the ledger over faked seams: a scripted ComfyUI at the HTTP transport, a
bus that records publishes and KV puts, and a JetStream that replays stored messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError

from contracts import codec, subjects
from contracts.backend import BackendHealth, BackendInventory
from contracts.backends import BackendRef
from contracts.envelope import utcnow
from contracts.errors import BusUnavailableError
from contracts.gpu import GpuSampled
from contracts.job import InterruptSent
from cr_client import Bus
from monitor.adapters.comfy import ComfyReader
from monitor.adapters.ledger import Ledger
from monitor.telemetry import Telemetry, nvml_loop

REF = BackendRef("b0", "http://comfy:8188")
STATS = {
    "system": {"comfyui_version": "0.3.30"},
    "devices": [
        {"name": "cuda:0 RTX", "type": "cuda", "vram_total": 100, "vram_free": 40},
        {"name": "cuda:1", "type": "cuda"},
    ],
}


@dataclass
class Comfy:
    """/system_stats, /queue, /object_info and /models as scripted here."""

    down: bool = False
    nodes: dict[str, Any] = field(default_factory=lambda: {"KSampler": {}, "VAEDecode": {}})
    models: dict[str, Any] = field(default_factory=lambda: {"checkpoints": ["a.safetensors"]})

    def answer(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        path = request.url.path
        if path == "/system_stats":
            return httpx.Response(200, json=STATS)
        if path == "/queue":
            item = [0, "p", {}, {}, []]
            return httpx.Response(200, json={"queue_running": [item], "queue_pending": []})
        if path == "/object_info":
            return httpx.Response(200, json=self.nodes)
        if path == "/models":
            return httpx.Response(200, json=list(self.models))
        if path.startswith("/models/"):
            folder = path.removeprefix("/models/")
            if folder not in self.models:
                return httpx.Response(404)
            return httpx.Response(200, json=self.models[folder])
        return httpx.Response(404)


class KV:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes) -> int:
        self.values[key] = value
        return len(self.values)


class Sub:
    def __init__(self, msgs: list[Any]) -> None:
        self.msgs = list(msgs)
        self.unsubscribed = False

    async def next_msg(self, timeout: float) -> Any:
        item = self.msgs.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    async def unsubscribe(self) -> None:
        self.unsubscribed = True


class JS:
    """get_last_msg and an ordered-consumer subscribe over a list of stored messages."""

    def __init__(self) -> None:
        self.stored: dict[str, list[bytes]] = {}
        self.last_error: BaseException | None = None
        self.replay_error: BaseException | None = None
        self.subs: list[Sub] = []

    async def get_last_msg(self, stream: str, subject: str) -> Any:
        if self.last_error is not None:
            raise self.last_error
        if not self.stored.get(subject):
            raise NotFoundError
        return SimpleNamespace(seq=len(self.stored[subject]))

    async def subscribe(self, subject: str, **_: Any) -> Sub:
        msgs: list[Any] = [
            SimpleNamespace(data=data, metadata=SimpleNamespace(sequence=SimpleNamespace(stream=i)))
            for i, data in enumerate(self.stored[subject], start=1)
        ]
        if self.replay_error is not None:
            msgs.insert(0, self.replay_error)
        self.subs.append(Sub(msgs))
        return self.subs[-1]


class FakeBus:
    def __init__(self) -> None:
        self.published: list[Any] = []
        self.kv_bucket = KV()
        self.js = JS()

    async def publish(self, event: Any) -> None:
        self.published.append(event)

    async def kv(self, name: str) -> KV:
        assert name == subjects.KV_BACKENDS
        return self.kv_bucket


def telemetry(comfy: Comfy, stats_for_gpu: bool = True) -> tuple[Telemetry, FakeBus]:
    from monitor.publisher import Publisher

    bus = FakeBus()
    reader = ComfyReader(REF, httpx.AsyncClient(transport=httpx.MockTransport(comfy.answer)))
    follower = SimpleNamespace(info=SimpleNamespace(version=None, device_type=None, health=None))
    out = Publisher(cast(Bus, bus))
    return Telemetry(follower, reader, out, stats_for_gpu), bus  # type: ignore[arg-type]


async def test_health_is_published_kept_in_the_registry_and_seen_by_the_follower() -> None:
    t, bus = telemetry(Comfy())
    await t.health_once()
    health, gpu0, gpu1 = bus.published
    assert isinstance(health, BackendHealth) and health.reachable
    assert (health.queue_running, health.queue_pending) == (1, 0)
    assert (health.comfyui_version, health.device_type, health.vram_free) == ("0.3.30", "cuda", 40)
    assert codec.decode(bus.kv_bucket.values["b0.health"]) == health
    assert t.follower.info.health == health and t.follower.info.version == "0.3.30"
    assert isinstance(gpu0, GpuSampled) and gpu0.sampled_via == "system_stats"
    assert (gpu0.memory_total, gpu0.memory_free, gpu0.memory_used) == (100, 40, 60)
    assert gpu1.index == 1 and gpu1.memory_used is None


async def test_a_down_backend_is_published_unreachable_then_up_again() -> None:
    comfy = Comfy(down=True)
    t, bus = telemetry(comfy, stats_for_gpu=False)
    await t.health_once()
    await t.health_once()
    assert [h.reachable for h in bus.published] == [False, False]
    assert "ConnectError" in (bus.published[0].error or "") and t.reachable is False
    comfy.down = False
    await t.health_once()
    assert bus.published[-1].reachable and t.reachable
    assert len(bus.published) == 3  # no GPU samples from stats when NVML does that


async def test_inventory_is_published_only_when_it_changes() -> None:
    comfy = Comfy()
    t, bus = telemetry(comfy)
    t.follower.info.version, t.follower.info.device_type = "0.3.30", "cuda"
    await t.inventory_once()
    (inventory,) = bus.published
    assert isinstance(inventory, BackendInventory)
    assert inventory.node_classes == ["KSampler", "VAEDecode"]
    assert inventory.models == {"checkpoints": ["a.safetensors"]}
    assert inventory.comfyui_version == "0.3.30" and len(inventory.digest or "") == 16
    assert "b0.inventory" in bus.kv_bucket.values
    await t.inventory_once()
    assert len(bus.published) == 1
    comfy.models["loras"] = ["l.safetensors"]
    await t.inventory_once()
    assert len(bus.published) == 2 and bus.published[1].models["loras"] == ["l.safetensors"]
    comfy.down = True
    await t.inventory_once()
    assert len(bus.published) == 2


async def test_nvml_loop_returns_at_once_without_nvml() -> None:
    probe = SimpleNamespace(start=lambda: False)
    bus = FakeBus()
    from monitor.publisher import Publisher

    await nvml_loop(probe, Publisher(cast(Bus, bus)), "host", 1.0)  # type: ignore[arg-type]
    assert not bus.published


def interrupt(prompt_id: str) -> bytes:
    return codec.encode(
        InterruptSent(
            event_id=f"i-{prompt_id}",
            job_id="j",
            attempt=1,
            occurred_at=utcnow(),
            source="t",
            backend_id="b0",
            prompt_id=prompt_id,
            reason="cancelled",
        )
    )


async def test_the_ledger_finds_an_interrupt_we_sent_among_stored_events() -> None:
    bus = FakeBus()
    ledger = Ledger(cast(Bus, bus))
    assert not await ledger.interrupt_sent("j", "p1")  # nothing stored: no subscription
    assert not bus.js.subs
    subject = subjects.per_job(subjects.JOB_INTERRUPT_SENT, "j")
    bus.js.stored[subject] = [interrupt("p0"), b"garbage", interrupt("p1")]
    assert await ledger.interrupt_sent("j", "p1")
    assert not await ledger.interrupt_sent("j", "p9")
    assert all(sub.unsubscribed for sub in bus.js.subs)
    events = [e async for e in ledger.replay(subject)]
    assert [e.prompt_id for e in events] == ["p0", "p1"]  # undecodable skipped


@pytest.mark.parametrize("where", ["last", "replay"])
async def test_a_nats_timeout_in_the_ledger_is_bus_unavailable(where: str) -> None:
    bus = FakeBus()
    subject = subjects.per_job(subjects.JOB_INTERRUPT_SENT, "j")
    bus.js.stored[subject] = [interrupt("p0")]
    if where == "last":
        bus.js.last_error = NatsTimeoutError()
    else:
        bus.js.replay_error = NatsTimeoutError()
    with pytest.raises(BusUnavailableError):
        await Ledger(cast(Bus, bus)).interrupt_sent("j", "p0")
    assert all(sub.unsubscribed for sub in bus.js.subs)
