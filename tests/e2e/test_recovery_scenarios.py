"""Recovery end to end, one scenario per class: five services as processes, real NATS,
the simulator with faults armed per job (matched on the SaveImage filename prefix)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from comfy_recovery.demo import base_workflow
from comfysim import FaultSpec, SimBackendSpec
from contracts import (
    Dispatch,
    FailureClass,
    FailureClassified,
    InterruptSent,
    JobDispatched,
    JobFailed,
    JobStatus,
    RecoveryDecided,
    RecoveryPolicy,
    Strategy,
)
from cr_client import JobResult
from tests.support.natsd import NatsServer
from tests.support.system import System, running_system

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    backends = [
        SimBackendSpec("b0", step_time_s=0.05),
        SimBackendSpec("b1", step_time_s=0.05, extra_nodes=["FaceDetailerPro"]),
    ]
    async with running_system(
        nats_server.url, tmp_path_factory.mktemp("scenarios"), backends
    ) as running:
        yield running


def graph(prefix: str, steps: int = 6, **latent: Any) -> dict[str, Any]:
    g = copy.deepcopy(base_workflow())
    g["5"]["inputs"].update(latent)
    g["3"]["inputs"]["steps"] = steps
    g["9"]["inputs"]["filename_prefix"] = prefix
    return g


def arm(system: System, kind: str, prefix: str, **params: Any) -> None:
    for backend in system.sim.backends():
        backend.inject(
            FaultSpec(kind, times=1, match={"filename_prefix_contains": prefix}, params=params)
        )


def classes(result: JobResult) -> list[FailureClass]:
    return [e.failure_class for e in result.events if isinstance(e, FailureClassified)]


def strategies(result: JobResult) -> list[Strategy]:
    return [s for e in result.events if isinstance(e, RecoveryDecided) for s in e.strategies]


def dispatches(result: JobResult) -> list[JobDispatched]:
    return [e for e in result.events if isinstance(e, JobDispatched)]


async def run(
    system: System,
    workflow: dict[str, Any],
    policy: RecoveryPolicy | None = None,
    timeout: float = 120,
) -> JobResult:
    job_id = await system.client.submit(workflow, policy=policy)
    result = await system.client.result(job_id, timeout=timeout)
    assert result.status in (JobStatus.COMPLETED, JobStatus.ABORTED), system.log
    return result


async def test_oom_batch_split_keeps_every_image(system: System) -> None:
    result = await run(system, graph("split", batch_size=8))
    assert result.status == JobStatus.COMPLETED, system.log
    assert FailureClass.GPU_OOM in classes(result)
    decision = next(e for e in result.events if isinstance(e, RecoveryDecided))
    dispatch = next(a for a in decision.actions if isinstance(a, Dispatch))
    sampled = [
        n["inputs"]["length"]
        for w in dispatch.workflows
        for n in w.values()
        if n["class_type"] == "LatentFromBatch"
    ]
    assert len(dispatch.workflows) > 1 and sum(sampled) == 8
    assert sum(len(files) for files in result.outputs.values()) == 8


async def test_oom_that_only_fits_smaller_is_cut_when_degradation_is_allowed(
    system: System,
) -> None:
    result = await run(
        system,
        graph("huge", width=3072, height=3072),
        RecoveryPolicy(allow_degradation=True, min_width=512, min_height=512),
    )
    assert result.status == JobStatus.COMPLETED, system.log
    last = dispatches(result)[-1].params
    decided = [c for e in result.events if isinstance(e, RecoveryDecided) for c in e.changes]
    widths = [c.after for c in decided if c.input == "width"]
    assert widths and all(512 <= w < 3072 and w % 8 == 0 for w in widths), (decided, last)


async def test_oom_that_only_fits_smaller_aborts_when_degradation_is_forbidden(
    system: System,
) -> None:
    result = await run(system, graph("nodegrade", width=3072, height=3072))
    assert result.status == JobStatus.ABORTED
    assert result.user_message and "memory" in result.user_message.lower()


async def test_missing_model_is_switched_to_the_listed_fallback(system: System) -> None:
    workflow = graph("fallback")
    workflow["4"]["inputs"]["ckpt_name"] = "sd_xl_turbo_1.0.safetensors"
    policy = RecoveryPolicy(
        fallback_models={"sd_xl_turbo_1.0.safetensors": ["sd_xl_base_1.0.safetensors"]}
    )
    result = await run(system, workflow, policy)
    assert result.status == JobStatus.COMPLETED, system.log
    assert FailureClass.MODEL_MISSING in classes(result)
    assert Strategy.SWITCH_MODEL in strategies(result)


async def test_missing_model_without_a_fallback_aborts_naming_the_file(system: System) -> None:
    workflow = graph("nofallback")
    workflow["4"]["inputs"]["ckpt_name"] = "my_private_model.safetensors"
    result = await run(system, workflow)
    assert result.status == JobStatus.ABORTED
    assert len(dispatches(result)) <= 1
    assert "my_private_model.safetensors" in (result.user_message or "")


async def test_a_custom_node_only_one_backend_has_runs_there(system: System) -> None:
    workflow = graph("facedetail")
    workflow["10"] = {"class_type": "FaceDetailerPro", "inputs": {"image": ["8", 0]}}
    result = await run(system, workflow)
    assert result.status == JobStatus.COMPLETED, system.log
    assert dispatches(result)[-1].backend_id == "b1"


async def run_disarming(
    system: System, workflow: dict[str, Any], policy: RecoveryPolicy | None = None
) -> JobResult:
    """Run a job whose fault is armed on every backend; disarm after the first failure."""
    job_id = await system.client.submit(workflow, policy=policy)
    async for event in system.client.follow(job_id):
        if isinstance(event, FailureClassified):
            for backend in system.sim.backends():
                backend.clear_faults()
            break
    return await system.client.result(job_id, timeout=120)


async def test_a_stall_is_interrupted_and_resumed(system: System) -> None:
    arm(system, "stall", "stalling")
    result = await run_disarming(system, graph("stalling"), RecoveryPolicy(stall_window_s=2))
    assert result.status == JobStatus.COMPLETED, system.log
    evidence = [e.evidence for e in result.events if isinstance(e, JobFailed)]
    assert FailureClass.STALLED in classes(result), evidence
    assert any(isinstance(e, InterruptSent) for e in result.events)


async def test_a_job_past_its_deadline_is_aborted_with_the_reason(system: System) -> None:
    result = await run(system, graph("slowjob", steps=400), RecoveryPolicy(deadline_s=3))
    assert result.status == JobStatus.ABORTED
    assert FailureClass.TIMEOUT in classes(result)
    assert result.reason and "deadline" in (result.reason + (result.user_message or "")).lower()


async def test_a_node_error_is_not_retried(system: System) -> None:
    arm(system, "node_error", "broken")
    result = await run_disarming(system, graph("broken"))
    assert result.status == JobStatus.ABORTED
    assert classes(result) == [FailureClass.NODE_EXECUTION_ERROR]
    assert len(dispatches(result)) == 1 and result.user_message


async def test_a_corrupt_model_on_one_backend_is_rerouted(system: System) -> None:
    workflow = graph("corrupt")
    workflow["4"]["inputs"]["ckpt_name"] = "v1-5-pruned-emaonly.safetensors"
    b0 = system.sim.backend("b0")
    b0.inject(FaultSpec("corrupt_model", times=-1, match={"ckpt_contains": "v1-5"}))
    try:
        result = await run(system, workflow)
    finally:
        b0.clear_faults()
    assert result.status == JobStatus.COMPLETED, system.log
    if dispatches(result)[0].backend_id == "b1":
        assert not classes(result)  # went straight to the healthy copy: nothing to recover
        return
    assert FailureClass.MODEL_CORRUPT in classes(result), [
        (d.backend_id, d.params) for d in dispatches(result)
    ]
    assert dispatches(result)[-1].backend_id == "b1"


async def test_a_backend_that_dies_mid_job_is_left_for_another(system: System) -> None:
    job_id = await system.client.submit(graph("dies", steps=120))
    async for event in system.client.follow(job_id):
        if isinstance(event, JobDispatched):
            first = event.backend_id
            break
    await system.sim.backend(first).crash(down_s=60)
    result = await system.client.result(job_id, timeout=120)
    assert result.status == JobStatus.COMPLETED, system.log
    assert dispatches(result)[-1].backend_id != first
