"""Run-time faults of a simulated ComfyUI, seen by the real monitor and submitter over a real
nats-server: each yields exactly one raw job.failed with its evidence, or one completion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from comfysim import FaultSpec, SimBackend, SimBackendSpec
from contracts import (
    BusSettings,
    Interrupt,
    JobProgressed,
    RecoveryDecided,
    RecoveryPolicy,
    Strategy,
    derive_event_id,
    new_event_id,
    prompt_id_for,
    utcnow,
)
from cr_client import Bus
from tests.support.edge import OUTCOMES, Edge, running_edge, wait_for, workflow

pytestmark = pytest.mark.integration


@pytest.fixture
async def edge(bus: Bus, bus_settings: BusSettings) -> AsyncIterator[Edge]:
    async with running_edge(bus, bus_settings) as running:
        yield running


async def test_a_clean_job_completes_once_with_its_output_files(edge: Edge) -> None:
    job_id = await edge.submit(expected_outputs=["9"])
    done = await edge.completion(job_id)
    assert done.backend_id == "b0" and done.outputs["9"][0].filename.startswith("edge")


@pytest.mark.parametrize(
    ("kind", "node_id", "node_type", "exception_type", "text"),
    [
        ("oom", "3", "KSampler", "torch.OutOfMemoryError", "out of memory"),
        ("disk_full", "9", "SaveImage", "OSError", "[Errno 28] No space left on device"),
        (
            "corrupt_model",
            "4",
            "CheckpointLoaderSimple",
            "safetensors._safetensors_rust.SafetensorError",
            "HeaderTooLarge",
        ),
        ("device_fault", "3", "KSampler", "RuntimeError", "illegal memory access"),
    ],
)
async def test_an_execution_error_is_reported_once_with_the_node_and_exception(
    edge: Edge, kind: str, node_id: str, node_type: str, exception_type: str, text: str
) -> None:
    edge.sim.backend("b0").inject(FaultSpec(kind))
    job_id = await edge.submit()
    failed = await edge.failure(job_id)
    ev = failed.evidence
    assert (ev.surface, ev.exception_type) == ("execution_error", exception_type)
    assert (ev.node_id, ev.node_type) == (node_id, node_type)
    assert text in ev.message and not ev.message.endswith("\n")
    assert ev.traceback and ev.current_inputs
    assert (ev.comfyui_version, ev.device_type) == ("0.33.0", "cuda")
    [prompt] = (await edge.dispatched(job_id)).prompts
    assert (failed.backend_id, failed.prompt_id) == ("b0", prompt.prompt_id)


async def test_a_stalled_sampler_is_reported_as_stalled_at_its_node(edge: Edge) -> None:
    edge.sim.backend("b0").inject(FaultSpec("stall", params={"at_step": 2}))
    # the window is a real one: 3 s leaves a loaded machine room between two healthy steps
    job_id = await edge.submit(policy=RecoveryPolicy(stall_window_s=3.0))
    ev = (await edge.failure(job_id)).evidence
    assert (ev.surface, ev.observation) == ("monitor", "stalled")
    assert (ev.node_id, ev.node_type) == ("3", "KSampler")


async def test_a_job_past_its_deadline_is_reported_as_timed_out(edge: Edge) -> None:
    # 5 s: the sampler has surely started by then, even on a loaded machine (the job needs 20 s)
    job_id = await edge.submit(workflow(steps=2000), policy=RecoveryPolicy(deadline_s=5.0))
    ev = (await edge.failure(job_id)).evidence
    assert (ev.surface, ev.observation) == ("monitor", "timeout")
    assert (ev.node_id, ev.node_type) == ("3", "KSampler")


async def test_a_backend_restart_mid_job_is_reported_as_a_lost_prompt(edge: Edge) -> None:
    edge.sim.backend("b0").inject(FaultSpec("crash", params={"down_s": 0.5}))
    job_id = await edge.submit()
    ev = (await edge.failure(job_id)).evidence
    assert (ev.surface, ev.observation) == ("monitor", "prompt_lost")


async def test_an_interrupt_nobody_sent_is_not_ours(edge: Edge) -> None:
    edge.sim.backend("b0").inject(FaultSpec("interrupt"))
    job_id = await edge.submit()
    ev = (await edge.failure(job_id)).evidence
    assert (ev.surface, ev.observation, ev.interrupted_by_us) == ("monitor", "interrupted", False)
    assert (ev.node_id, ev.node_type) == ("3", "KSampler")


async def test_an_interrupt_we_sent_is_recorded_and_reported_as_ours(edge: Edge) -> None:
    job_id = await edge.submit(workflow(steps=1000))
    dispatched = await edge.dispatched(job_id)
    await edge.first(job_id, JobProgressed)
    prompt_id = dispatched.prompts[0].prompt_id
    await edge.bus.publish(
        RecoveryDecided(
            event_id=derive_event_id(job_id, "test-cancel"),
            job_id=job_id,
            attempt=1,
            occurred_at=utcnow(),
            source="edge-test",
            answers_event_id="owner-cancel",
            strategy=Strategy.ABORT,
            actions=[Interrupt(backend_id="b0", prompt_id=prompt_id, reason="owner cancelled")],
        )
    )
    ev = (await edge.failure(job_id)).evidence
    assert (ev.surface, ev.observation, ev.interrupted_by_us) == ("monitor", "interrupted", True)
    interrupts = edge.sim.backend("b0").sim_state()["interrupts"]
    assert [i["prompt_id"] for i in interrupts] == [prompt_id]


async def test_a_success_without_the_expected_output_is_output_missing(edge: Edge) -> None:
    graph = workflow()
    graph["9"] = {
        "class_type": "SaveImageWebsocket",
        "inputs": {"images": ["8", 0]},
    }
    job_id = await edge.submit(graph, expected_outputs=["9"])
    ev = (await edge.failure(job_id)).evidence
    assert (ev.surface, ev.observation) == ("monitor", "output_missing")
    assert "9" in ev.message


async def test_a_slow_websocket_still_completes_once(bus: Bus, bus_settings: BusSettings) -> None:
    spec = SimBackendSpec("b0", step_time_s=0.01)
    async with running_edge(bus, bus_settings, [spec]) as edge:
        edge.sim.backend("b0").inject(FaultSpec("ws_slow", params={"delay_s": 0.02}))
        job_id = await edge.submit(expected_outputs=["9"])
        done = await edge.completion(job_id)
        assert done.outputs["9"]
        await asyncio.sleep(0)


async def test_an_unreadable_history_is_no_answer_and_loses_nothing(edge: Edge) -> None:
    backend, job_id = edge.sim.backend("b0"), new_event_id()
    prompt_id = prompt_id_for(job_id, 1)
    await edge.submit(workflow(steps=100), job_id=job_id)
    await edge.first(job_id, JobProgressed)
    backend.inject(FaultSpec("http500", times=-1, params={"path": f"/history/{prompt_id}"}))
    await wait_for(lambda: finished_on(backend, prompt_id))
    # finished, but its history answers 500: several reconciles must conclude nothing
    seen = len(backend.sim_state()["faults_fired"])
    await wait_for(lambda: fired_since(backend, seen, times=4))
    assert not [e for e in await edge.client.history(job_id) if isinstance(e, OUTCOMES)]
    backend.clear_faults()
    assert (await edge.completion(job_id)).prompt_ids == [prompt_id]


async def finished_on(backend: SimBackend, prompt_id: str) -> bool:
    return prompt_id in backend.proc.queue.history


async def fired_since(backend: SimBackend, seen: int, times: int) -> bool:
    return len(backend.sim_state()["faults_fired"]) >= seen + times
