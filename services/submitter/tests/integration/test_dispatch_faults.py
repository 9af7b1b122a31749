"""Submit-time faults of a simulated ComfyUI, met by the real submitter (monitor running too)
over a real nats-server: each yields exactly one raw job.failed with its evidence; and a
decision delivered five times, or claimed by another instance, posts its prompt once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from nats.js.errors import KeyNotFoundError

from comfysim import FaultSpec, SimBackend, SimBackendSpec
from comfysim.middleware import SERVER_ERROR_TEXT
from contracts import (
    BusSettings,
    Dispatch,
    JobDispatched,
    JobProgressed,
    RecoveryDecided,
    Strategy,
    new_event_id,
    prompt_id_for,
    utcnow,
)
from contracts import subjects as subj
from contracts.backends import EXTRA_DATA_KEY, monitor_client_id
from cr_client import Bus
from submitter.adapters.claims import ClaimRecord
from tests.support.edge import (
    Edge,
    running_edge,
    subject_events,
    wait_for,
    workflow,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def edge(bus: Bus, bus_settings: BusSettings) -> AsyncIterator[Edge]:
    # health probes far apart: the registry must not learn of a refusal before the POST does
    async with running_edge(bus, bus_settings, monitor={"health_interval_s": 60.0}) as running:
        yield running


async def test_refused_connections_fail_the_attempt_as_our_client_saw_it(edge: Edge) -> None:
    backend = edge.sim.backend("b0")
    backend.inject(FaultSpec("refuse", params={"down_s": 3.0}))
    await wait_for(lambda: is_down(backend))
    failed = await edge.failure(await edge.submit())
    ev = failed.evidence
    assert (ev.surface, ev.exception_type, failed.backend_id) == (
        "client",
        "httpx.ConnectError",
        "b0",
    )


async def test_a_reset_connection_fails_the_attempt_and_nothing_is_queued(edge: Edge) -> None:
    edge.sim.backend("b0").inject(FaultSpec("reset"))
    ev = (await edge.failure(await edge.submit())).evidence
    assert ev.surface == "client"
    assert ev.exception_type in ("httpx.RemoteProtocolError", "httpx.ReadError")
    assert edge.sim.backend("b0").sim_state()["prompts_accepted"] == 0


async def test_a_plain_text_500_keeps_status_and_body(edge: Edge) -> None:
    edge.sim.backend("b0").inject(FaultSpec("http500"))
    ev = (await edge.failure(await edge.submit())).evidence
    assert (ev.surface, ev.http_status, ev.body) == ("http", 500, SERVER_ERROR_TEXT)
    assert ev.message == "500 Internal Server Error"


async def test_a_missing_model_is_a_validation_failure_naming_node_and_input(edge: Edge) -> None:
    edge.sim.backend("b0").inject(
        FaultSpec("missing_model", params={"name": "sd_xl_base_1.0.safetensors"})
    )
    ev = (await edge.failure(await edge.submit())).evidence
    assert (ev.surface, ev.http_status, ev.validation_type) == (
        "validation",
        400,
        "value_not_in_list",
    )
    [error] = ev.node_errors
    assert (error.node_id, error.class_type, error.input_name) == (
        "4",
        "CheckpointLoaderSimple",
        "ckpt_name",
    )
    assert error.received_value == "sd_xl_base_1.0.safetensors" and ev.body


async def test_a_missing_node_class_names_the_node(edge: Edge) -> None:
    edge.sim.backend("b0").inject(FaultSpec("missing_node", params={"class_type": "KSampler"}))
    ev = (await edge.failure(await edge.submit())).evidence
    assert (ev.surface, ev.http_status, ev.validation_type) == (
        "validation",
        400,
        "missing_node_type",
    )
    assert (ev.node_id, ev.node_type, ev.node_errors) == ("3", "KSampler", [])


async def test_a_400_with_node_errors_keeps_every_error(edge: Edge) -> None:
    ev = (await edge.failure(await edge.submit(workflow(width=99_999)))).evidence
    assert (ev.surface, ev.http_status, ev.validation_type) == (
        "validation",
        400,
        "value_bigger_than_max",
    )
    [error] = ev.node_errors
    assert (error.node_id, error.input_name, error.received_value) == ("5", "width", 99_999)
    assert error.input_config[1]["max"] == 16384


async def test_a_200_with_node_errors_is_a_failure_and_the_prompt_is_stopped(edge: Edge) -> None:
    graph = workflow(steps=200)
    graph["12"] = {
        "class_type": "EmptyImage",
        "inputs": {"width": 999_999, "height": 64, "batch_size": 1, "color": 0},
    }
    graph["10"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["12", 0], "filename_prefix": "x"},
    }
    failed = await edge.failure(await edge.submit(graph))
    ev = failed.evidence
    assert (ev.surface, ev.http_status, ev.observation) == ("validation", 200, "partial_accept")
    assert [(e.node_id, e.type) for e in ev.node_errors] == [("12", "value_bigger_than_max")]
    interrupts = edge.sim.backend("b0").sim_state()["interrupts"]
    assert [i["prompt_id"] for i in interrupts] == [failed.prompt_id]


async def test_an_emergency_stop_interrupts_our_prompt_by_id(edge: Edge) -> None:
    job_id = await edge.submit(workflow(steps=1000))
    prompt_id = (await edge.dispatched(job_id)).prompts[0].prompt_id
    await edge.first(job_id, JobProgressed)
    await edge.client.emergency_stop("maintenance")
    ev = (await edge.failure(job_id)).evidence
    assert (ev.observation, ev.interrupted_by_us) == ("interrupted", True)
    assert [i["prompt_id"] for i in edge.sim.backend("b0").sim_state()["interrupts"]] == [prompt_id]


async def is_down(backend: SimBackend) -> bool:
    return not backend.up


def dispatch_decision(job_id: str, graph: dict[str, Any]) -> RecoveryDecided:
    return RecoveryDecided(
        event_id=new_event_id(),
        job_id=job_id,
        attempt=1,
        occurred_at=utcnow(),
        source="edge-test",
        answers_event_id="failure-1",
        strategy=Strategy.RETRY,
        actions=[Dispatch(attempt=2, workflows=[graph])],
    )


async def test_a_decision_delivered_five_times_posts_its_prompt_once(
    bus: Bus, bus_settings: BusSettings
) -> None:
    specs = [SimBackendSpec("b0", step_time_s=0.01), SimBackendSpec("b1", step_time_s=0.01)]
    async with running_edge(bus, bus_settings, specs) as edge:
        job_id, graph = new_event_id(), workflow(steps=100)
        for _ in range(5):
            await bus.publish(dispatch_decision(job_id, graph))
        await edge.completion(job_id)
        prompt_id = prompt_id_for(job_id, 2)
        states = [b.sim_state() for b in edge.sim.backends()]
        assert sum(s["prompts_executed"].get(prompt_id, 0) for s in states) == 1
        assert sum(s["prompts_accepted"] for s in states) == 1
        stored = await subject_events(
            bus, subj.EVENTS_STREAM, subj.per_job(subj.JOB_DISPATCHED, job_id)
        )
        assert [type(e) for e in stored] == [JobDispatched]


async def claim(bus: Bus, job_id: str, backend_id: str, age_s: float) -> str:
    """A claim on attempt 2 of `job_id`, as another submitter instance would have left it."""
    key = prompt_id_for(job_id, 2)
    record = ClaimRecord(
        holder="submitter/other-pod-1",
        backend_id=backend_id,
        job_id=job_id,
        attempt=2,
        at=time.time() - age_s,
    )
    await (await bus.kv(subj.KV_PROMPTS)).create(key, msgspec.json.encode(record))
    return key


async def redelivered(bus: Bus) -> bool:
    info = await bus.js.consumer_info(subj.EVENTS_STREAM, subj.DURABLE_SUBMITTER_DECISIONS)
    return bool(info.num_redelivered)


async def test_an_attempt_claimed_by_another_instance_is_posted_only_after_release(
    edge: Edge,
) -> None:
    job_id = new_event_id()
    key = await claim(edge.bus, job_id, "b0", age_s=0.0)
    await edge.bus.publish(dispatch_decision(job_id, workflow()))
    await wait_for(lambda: redelivered(edge.bus))
    assert edge.sim.backend("b0").sim_state()["prompts_accepted"] == 0
    await (await edge.bus.kv(subj.KV_PROMPTS)).delete(key)
    await edge.completion(job_id)
    assert edge.sim.backend("b0").sim_state()["prompts_accepted"] == 1


async def test_a_stale_claim_is_taken_over_on_the_backend_it_names(
    bus: Bus, bus_settings: BusSettings
) -> None:
    specs = [SimBackendSpec("b0", step_time_s=0.01), SimBackendSpec("b1", step_time_s=0.01)]
    async with running_edge(bus, bus_settings, specs) as edge:
        job_id = new_event_id()
        await claim(bus, job_id, "b1", age_s=3600.0)
        await bus.publish(dispatch_decision(job_id, workflow()))
        assert (await edge.completion(job_id)).backend_id == "b1"
        with pytest.raises(KeyNotFoundError):
            await (await bus.kv(subj.KV_PROMPTS)).get(prompt_id_for(job_id, 2))


async def test_a_stale_claim_whose_prompt_is_already_posted_is_not_posted_again(
    bus: Bus, bus_settings: BusSettings
) -> None:
    # only a fresh claim skips asking the backend first; a taken-over one must still ask
    specs = [SimBackendSpec("b0", step_time_s=0.01), SimBackendSpec("b1", step_time_s=0.01)]
    async with running_edge(bus, bus_settings, specs) as edge:
        job_id, graph = new_event_id(), workflow()
        await claim(bus, job_id, "b1", age_s=3600.0)
        body = {
            "prompt": graph,
            "prompt_id": prompt_id_for(job_id, 2),
            "client_id": monitor_client_id("b1"),
            "extra_data": {EXTRA_DATA_KEY: {"job_id": job_id, "attempt": 2, "part": 0}},
        }
        async with httpx.AsyncClient(base_url=edge.sim.urls["b1"]) as http:
            (await http.post("/prompt", json=body)).raise_for_status()  # the other pod's post
        await bus.publish(dispatch_decision(job_id, graph))
        assert (await edge.completion(job_id)).backend_id == "b1"
        states = [b.sim_state() for b in edge.sim.backends()]
        assert sum(s["prompts_accepted"] for s in states) == 1
