"""Restart requests: which are acted on (gate), each hook at its seam, and what the operator
sees when no hook is configured."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import msgspec
import pytest
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoStreamResponseError
from pydantic import ValidationError

from contracts import BackendHealth, RecoveryDecided, Strategy
from contracts.backends import BackendRef
from contracts.errors import BusUnavailableError
from contracts.recovery import QuarantineBackend
from cr_client import Bus
from monitor.config import Settings
from monitor.errors import RestartFailedError
from monitor.hooks import (
    CommandHook,
    KubernetesHook,
    RestartHook,
    RestartRequest,
    SimulatorHook,
    WebhookHook,
    hook_factory,
)
from monitor.publisher import Publisher
from monitor.restarts import RESTARTS, Restarter, RestartGate

REF = BackendRef("b0", "http://comfy:8188")
REQUEST = RestartRequest("b0", "http://comfy:8188", "backend_wedged on this backend", "j", "d")
NOW = 1_800_000_000.0


def http(answer: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def test_a_stale_request_or_one_within_the_cooldown_is_not_acted_on() -> None:
    gate = RestartGate(cooldown_s=300, max_age_s=600)
    assert gate.refusal("b0", NOW - 601, NOW) is not None
    assert gate.refusal("b0", NOW - 5, NOW) is None
    gate.acted("b0", NOW)
    assert "cooldown" in (gate.refusal("b0", NOW + 10, NOW + 10) or "")
    assert gate.refusal("b1", NOW + 10, NOW + 10) is None
    assert gate.refusal("b0", NOW + 300, NOW + 300) is None


def test_a_request_from_before_the_last_restart_is_the_same_incident() -> None:
    gate = RestartGate(cooldown_s=30, max_age_s=600)
    gate.acted("b0", NOW)
    late = gate.refusal("b0", NOW - 1, NOW + 60)  # another job's report of the same wedge
    assert late is not None and "handled" in late
    assert gate.refusal("b0", NOW + 45, NOW + 60) is None  # wedged again after the restart


async def test_the_command_hook_runs_a_shell_command_with_the_backend_in_its_env(
    tmp_path: Path,
) -> None:
    out = tmp_path / "seen"
    hook = CommandHook(f'echo "$CR_BACKEND_ID $CR_BACKEND_URL" > {out}; echo done', 30)
    assert await hook.restart(REQUEST) == "command exited with 0: done"
    assert out.read_text().split() == ["b0", "http://comfy:8188"]


async def test_a_command_that_fails_or_hangs_is_a_failed_restart() -> None:
    with pytest.raises(RestartFailedError, match="exited with 3: no such unit"):
        await CommandHook("echo no such unit; exit 3", 30).restart(REQUEST)
    with pytest.raises(RestartFailedError, match="timed out"):
        await CommandHook("exec sleep 30", 0.2).restart(REQUEST)


async def test_the_webhook_hook_posts_the_request_as_json() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202 if len(seen) == 1 else 503)

    hook = WebhookHook("http://ops/restart", http(answer))
    assert await hook.restart(REQUEST) == "webhook answered 202"
    body = json.loads(seen[0].content)
    assert (seen[0].method, body["backend_id"], body["url"]) == ("POST", "b0", REF.url)
    with pytest.raises(RestartFailedError, match="HTTP 503"):
        await hook.restart(REQUEST)


async def test_the_kubernetes_hook_deletes_the_pod_by_name_with_the_token(
    tmp_path: Path,
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"kind": "Pod"})

    hook = KubernetesHook(
        http(answer), "https://k8s", "gpu", pod="comfyui-{backend_id}", token_file=token
    )
    assert await hook.restart(REQUEST) == "pod gpu/comfyui-b0 deleted"
    [request] = seen
    assert (request.method, request.url.path) == (
        "DELETE",
        "/api/v1/namespaces/gpu/pods/comfyui-b0",
    )
    assert request.headers["authorization"] == "Bearer s3cret"


async def test_the_kubernetes_hook_by_selector_needs_a_matching_pod(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    items: list[dict[str, Any]] = [{"metadata": {"name": "comfyui-7f9"}}]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"kind": "PodList", "items": items})

    hook = KubernetesHook(
        http(answer), "https://k8s", "gpu", selector="backend={backend_id}", token_file=token
    )
    assert await hook.restart(REQUEST) == "pods deleted in gpu: comfyui-7f9"
    assert seen[0].url.params["labelSelector"] == "backend=b0"
    items.clear()
    with pytest.raises(RestartFailedError, match="no pod"):
        await hook.restart(REQUEST)
    with pytest.raises(RestartFailedError, match="token"):
        await KubernetesHook(
            http(answer), "https://k8s", "gpu", pod="x", token_file=tmp_path / "absent"
        ).restart(REQUEST)


async def test_the_auto_hook_is_the_simulators_only_for_a_simulated_backend() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        simulated = request.url.host == "sim"
        return httpx.Response(200 if simulated else 404, json={})

    hook_for = hook_factory(Settings(), http(answer))
    assert isinstance(await hook_for(BackendRef("s", "http://sim:1")), SimulatorHook)
    assert await hook_for(REF) is None
    assert await hook_factory(Settings(restart_hook="none"), http(answer))(REF) is None


def test_a_hook_without_what_it_needs_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="CR_MONITOR_RESTART_COMMAND"):
        Settings(restart_hook="command")
    with pytest.raises(ValidationError, match="CR_MONITOR_RESTART_WEBHOOK_URL"):
        Settings(restart_hook="webhook")
    with pytest.raises(ValidationError, match="CR_MONITOR_RESTART_K8S_POD"):
        Settings(restart_hook="kubernetes")


class KvRecorder:
    """The registry bucket at the KV seam: values with revisions, compare-and-set."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.revisions: dict[str, int] = {}
        self.sequence = 0

    async def get(self, key: str) -> Any:
        if key not in self.values:
            raise KeyNotFoundError
        return SimpleNamespace(value=self.values[key], revision=self.revisions[key])

    async def put(self, key: str, value: bytes) -> int:
        self.sequence += 1
        self.values[key], self.revisions[key] = value, self.sequence
        return self.sequence

    async def create(self, key: str, value: bytes) -> int:
        return await self.update(key, value, last=0)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if self.revisions.get(key, 0) != last:
            raise KeyWrongLastSequenceError
        return await self.put(key, value)


class RecordingBus:
    def __init__(self) -> None:
        self.published: list[Any] = []
        self.kv_store = KvRecorder()

    async def publish(self, event: Any) -> None:
        self.published.append(event)

    async def kv(self, bucket: str) -> KvRecorder:
        return self.kv_store


class CountingHook:
    name = "counting"

    def __init__(self) -> None:
        self.requests: list[RestartRequest] = []

    async def restart(self, request: RestartRequest) -> str:
        self.requests.append(request)
        return "done"


def decided(*actions: Any, at: float = NOW) -> RecoveryDecided:
    return RecoveryDecided(
        event_id="d1",
        job_id="j",
        attempt=1,
        occurred_at=datetime.fromtimestamp(at, UTC),
        source="t",
        answers_event_id="c1",
        strategy=Strategy.QUARANTINE_BACKEND,
        actions=list(actions),
    )


def restarter(bus: RecordingBus, hook: RestartHook | None, now: float = NOW) -> Restarter:
    async def hook_for(_: BackendRef) -> RestartHook | None:
        return hook

    return Restarter(
        {"b0": REF},
        hook_for,
        RestartGate(cooldown_s=300, max_age_s=600),
        Publisher(cast(Bus, bus)),
        wall=lambda: now,
    )


def count(outcome: str, hook: str) -> float:
    value = RESTARTS.labels("b0", hook, outcome)._value.get()
    return float(value)


async def test_a_restart_request_runs_the_hook_once_per_cooldown() -> None:
    bus, hook = RecordingBus(), CountingHook()
    wanted = QuarantineBackend(backend_id="b0", reason="wedged", restart_requested=True)
    before = count("restarted", "counting")
    await restarter(bus, hook).on_event(decided(wanted))
    assert [r.backend_id for r in hook.requests] == ["b0"]
    assert count("restarted", "counting") == before + 1
    record = msgspec.json.decode(bus.kv_store.values["b0.restart"])
    assert (record["outcome"], record["hook"], record["detail"]) == (
        "restarted",
        "counting",
        "done",
    )
    [notice] = bus.published  # recovery lets a probe judge the fresh process at once
    assert isinstance(notice, BackendHealth) and notice.restarted and notice.error is None


async def test_only_a_requested_restart_of_one_of_our_backends_is_acted_on() -> None:
    bus, hook = RecordingBus(), CountingHook()
    subject = restarter(bus, hook)
    await subject.on_event(decided(QuarantineBackend(backend_id="b0", reason="oom")))
    await subject.on_event(
        decided(QuarantineBackend(backend_id="elsewhere", reason="x", restart_requested=True))
    )
    await subject.on_event(
        decided(QuarantineBackend(backend_id="b0", reason="x", restart_requested=True), at=0)
    )
    assert hook.requests == [] and bus.kv_store.values == {}


async def test_without_a_hook_the_operator_gets_an_event_a_metric_and_a_registry_entry() -> None:
    bus = RecordingBus()
    before = count("no_hook", "none")
    wanted = QuarantineBackend(backend_id="b0", reason="wedged", restart_requested=True)
    subject = restarter(bus, None)
    await subject.on_event(decided(wanted))
    await subject.on_event(decided(wanted))  # within the cooldown: said once
    [notice] = bus.published
    assert isinstance(notice, BackendHealth) and notice.backend_id == "b0"
    assert "no restart hook" in (notice.error or "")
    assert count("no_hook", "none") == before + 1
    assert msgspec.json.decode(bus.kv_store.values["b0.restart"])["outcome"] == "no_hook"


class BrokenHook:
    name = "broken"

    async def restart(self, request: RestartRequest) -> str:
        raise RestartFailedError("HTTP 403 forbidden")


async def test_a_hook_that_fails_is_recorded_as_failed() -> None:
    bus = RecordingBus()
    wanted = QuarantineBackend(backend_id="b0", reason="wedged", restart_requested=True)
    await restarter(bus, BrokenHook()).on_event(decided(wanted))
    record = msgspec.json.decode(bus.kv_store.values["b0.restart"])
    assert (record["outcome"], record["detail"]) == ("failed", "HTTP 403 forbidden")


def health_of_b0(**figures: int) -> BackendHealth:
    """A reachable b0's health event, with `figures` (queue lengths)."""
    return BackendHealth(
        event_id="h",
        job_id="_",
        occurred_at=datetime.fromtimestamp(NOW, UTC),
        source="t",
        backend_id="b0",
        reachable=True,
        **figures,  # type: ignore[arg-type]
    )


async def test_the_notice_keeps_the_last_health_figures() -> None:
    bus = RecordingBus()
    last = health_of_b0(queue_running=1, queue_pending=4)
    subject = restarter(bus, None)
    subject.last_health = lambda _: last
    await subject.request(REQUEST, NOW)
    [notice] = bus.published
    assert (notice.queue_running, notice.queue_pending) == (1, 4) and notice.event_id != "h"


async def test_two_instances_restart_a_backend_once_per_incident() -> None:
    # Decisions are spread over the monitor instances; each used to keep its own gate, so
    # both restarted the same wedged backend and the second restart lost the queue.
    bus, hook = RecordingBus(), CountingHook()
    first, second = restarter(bus, hook), restarter(bus, hook, now=NOW + 5)
    wanted = QuarantineBackend(backend_id="b0", reason="wedged", restart_requested=True)
    await first.on_event(decided(wanted, at=NOW - 2))
    await second.on_event(decided(wanted, at=NOW - 1))  # another job's report, same wedge
    assert len(hook.requests) == 1
    late = restarter(bus, hook, now=NOW + 400)  # a new incident after the cooldown
    await late.on_event(decided(wanted, at=NOW + 399))
    assert len(hook.requests) == 2


async def test_a_restart_another_instance_claims_first_is_skipped() -> None:
    bus, hook = RecordingBus(), CountingHook()
    subject = restarter(bus, hook)
    real_get = bus.kv_store.get

    async def get_then_lose_the_race(key: str) -> Any:
        entry = await real_get(key)
        await bus.kv_store.put(key, b'{"outcome": "restarting"}')  # another instance's claim
        return entry

    await bus.kv_store.put("b0.restart", b'{"outcome": "restarted", "acted_at": 1.0}')
    bus.kv_store.get = get_then_lose_the_race  # type: ignore[method-assign]
    assert await subject.request(REQUEST, NOW) == "skipped"
    assert hook.requests == []


async def test_a_registry_record_without_a_time_does_not_block_a_restart() -> None:
    bus, hook = RecordingBus(), CountingHook()
    await bus.kv_store.put("b0.restart", b"not json")
    assert await restarter(bus, hook).request(REQUEST, NOW) == "restarted"
    await bus.kv_store.put("b0.restart", b'["a list"]')
    assert await restarter(bus, hook, now=NOW + 301).request(REQUEST, NOW + 301) == "restarted"


class RestartingKv(KvRecorder):
    async def put(self, key: str, value: bytes) -> int:
        raise NoStreamResponseError  # NATS restarting under the KV write


async def test_a_registry_write_while_nats_restarts_is_transient_not_a_crash() -> None:
    # The health loop catches BusUnavailableError; a raw NoStreamResponseError from the KV
    # write ended the monitor's telemetry task, and with it the service.
    bus = RecordingBus()
    bus.kv_store = RestartingKv()
    health = health_of_b0()
    with pytest.raises(BusUnavailableError, match="write b0.health"):
        await Publisher(cast(Bus, bus)).telemetry(health, "health")
    assert len(bus.published) == 1  # the event itself went out
