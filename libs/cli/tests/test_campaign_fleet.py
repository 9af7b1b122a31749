"""The campaign's fleet (comfysim.fleet): job-scoped faults, dispatch counts, GPU ledger."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from comfy_recovery.campaign.mix import RECOVERABLE, JobSpec
from comfysim import FaultSpec, SimBackendSpec
from comfysim.fleet import SimFleet, markers_in
from comfysim.testing import wait_history


async def run(fleet: SimFleet, backend: str, graph: dict[str, Any]) -> dict[str, Any]:
    """POST the graph to one backend and wait for its history entry."""
    async with httpx.AsyncClient(base_url=fleet.urls[backend], timeout=10) as http:
        reply = await http.post("/prompt", json={"prompt": graph})
        assert reply.status_code == 200, reply.text
        entry: dict[str, Any] = await wait_history(http, reply.json()["prompt_id"])
        return entry


def status(entry: dict[str, Any]) -> str:
    return str(entry["status"]["status_str"])


@pytest.fixture
async def fleet() -> Any:
    sim = SimFleet(
        [SimBackendSpec("b0", step_time_s=0.001), SimBackendSpec("b1", step_time_s=0.001)]
    )
    await sim.start()
    yield sim
    await sim.stop()


def test_markers_in_prompts() -> None:
    graph = JobSpec(7, "clean", "clean", 0.0).workflow()
    fleet = SimFleet([SimBackendSpec("x")])
    assert markers_in(graph, fleet.pattern) == {"cmp0007x"}
    assert markers_in("not a prompt", fleet.pattern) == set()


async def test_once_fires_on_one_backend_only(fleet: SimFleet) -> None:
    spec = JobSpec(1, "device_fault", RECOVERABLE, 0.0)
    fleet.arm(FaultSpec("device_fault", match={"filename_prefix_contains": spec.marker}), "once")
    graph = spec.workflow()
    assert status(await run(fleet, "b1", graph)) == "error"
    assert status(await run(fleet, "b0", graph)) == "success"
    assert status(await run(fleet, "b1", graph)) == "success"
    other = JobSpec(2, "clean", "clean", 0.0).workflow()
    assert status(await run(fleet, "b0", other)) == "success"
    assert fleet.dispatches == {"cmp0001x": 3, "cmp0002x": 1}


async def test_backend_scope_sticks_to_the_first_backend(fleet: SimFleet) -> None:
    spec = JobSpec(3, "disk_full", RECOVERABLE, 0.0)
    fleet.arm(FaultSpec("disk_full", match={"filename_prefix_contains": spec.marker}), "backend")
    graph = spec.workflow()
    assert status(await run(fleet, "b0", graph)) == "error"
    assert status(await run(fleet, "b0", graph)) == "error"
    assert status(await run(fleet, "b1", graph)) == "success"


async def test_always_scope_fires_everywhere(fleet: SimFleet) -> None:
    spec = JobSpec(4, "node_error", "non-recoverable", 0.0)
    fleet.arm(FaultSpec("node_error", match={"filename_prefix_contains": spec.marker}), "always")
    graph = spec.workflow()
    for backend in ("b0", "b1", "b0"):
        assert status(await run(fleet, backend, graph)) == "error"


async def test_http500_counts_as_a_dispatch(fleet: SimFleet) -> None:
    spec = JobSpec(5, "http500", RECOVERABLE, 0.0)
    fleet.arm(FaultSpec("http500", match={"filename_prefix_contains": spec.marker}), "once")
    async with httpx.AsyncClient(base_url=fleet.urls["b0"], timeout=10) as http:
        first = await http.post("/prompt", json={"prompt": spec.workflow()})
    assert first.status_code == 500
    assert status(await run(fleet, "b0", spec.workflow())) == "success"
    assert fleet.dispatches["cmp0005x"] == 2


async def test_ledger_records_gpu_time_images_and_lost_runs(fleet: SimFleet) -> None:
    ok = JobSpec(6, "clean", "clean", 0.0, batch=2)
    await run(fleet, "b0", ok.workflow())
    crash = JobSpec(8, "crash", RECOVERABLE, 0.0)
    fleet.arm(FaultSpec("crash", match={"filename_prefix_contains": crash.marker}), "once")
    async with httpx.AsyncClient(base_url=fleet.urls["b1"], timeout=10) as http:
        assert (await http.post("/prompt", json={"prompt": crash.workflow()})).status_code == 200
    backend = fleet.backend("b1")
    for _ in range(400):  # the crash fires mid-steps, then the lost run is closed
        if backend.crashes and backend.ledger.records[-1].ended:
            break
        await asyncio.sleep(0.05)
    records = {r.prompt["9"]["inputs"]["filename_prefix"][:8]: r for r in fleet.records()}
    assert records["cmp0006x"].status == "success"
    assert records["cmp0006x"].output_images() == 2
    assert records["cmp0006x"].gpu_seconds > 0
    assert records["cmp0008x"].status == "lost"
    assert records["cmp0008x"].output_images() == 0
