"""Nothing is lost when the websocket drops, when the monitor is killed with SIGKILL and
restarted, or when one of three backends dies mid-run."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from comfy_recovery.natsd import free_port
from comfysim import FaultSpec, SimBackend, SimBackendSpec
from contracts import BackendHealth, BusSettings, JobCompleted, JobFailed, JobProgressed
from contracts import subjects as subj
from cr_client import Bus
from tests.support.edge import (
    Edge,
    last_health,
    running_edge,
    subject_events,
    urls_of,
    wait_for,
    wait_ready,
    workflow,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fails", [False, True], ids=["completes", "fails"])
async def test_a_websocket_dropped_mid_job_loses_no_outcome(
    bus: Bus, bus_settings: BusSettings, fails: bool
) -> None:
    async with running_edge(bus, bus_settings) as edge:
        backend = edge.sim.backend("b0")
        backend.inject(FaultSpec("ws_drop"))
        if fails:  # after the drop, in the last node
            backend.inject(FaultSpec("node_error", match={"class_type": "SaveImage"}))
        job_id = await edge.submit(workflow(steps=60), expected_outputs=["9"])
        outcome = await edge.outcome(job_id)
        fired = [f["kind"] for f in backend.sim_state()["faults_fired"]]
        assert fired == ["ws_drop", "node_error"] if fails else ["ws_drop"]
        if isinstance(outcome, JobFailed):
            assert fails and (outcome.evidence.node_id, outcome.evidence.exception_type) == (
                "9",
                "ValueError",
            )
        else:
            assert not fails and outcome.outputs["9"]


@contextmanager
def monitor_process(edge: Edge, bus_settings: BusSettings, log: Path) -> Iterator[int]:
    """`python -m monitor` with the test's settings in the environment; yields its health port."""
    port = free_port()
    env = {
        **os.environ,
        "CR_NATS_URL": bus_settings.url,
        "CR_COMFYUI_URLS": urls_of(edge.sim),
        "CR_MONITOR_HEALTH_PORT": str(port),
        "CR_MONITOR_HEALTH_INTERVAL_S": "0.3",
        "CR_MONITOR_RECONCILE_INTERVAL_S": "0.5",
        "CR_MONITOR_CHECK_INTERVAL_S": "0.2",
        "CR_MONITOR_LOST_GRACE_S": "1",
        "CR_MONITOR_NVML": "false",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "monitor"], env=env, stderr=out)
    try:
        yield port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)


@pytest.mark.parametrize("fails", [False, True], ids=["completes", "fails"])
async def test_a_monitor_killed_hard_mid_job_reports_the_outcome_once_after_restart(
    bus: Bus, bus_settings: BusSettings, tmp_path: Path, fails: bool
) -> None:
    log = tmp_path / "monitor.log"
    async with running_edge(bus, bus_settings, with_monitor=False) as edge:
        backend = edge.sim.backend("b0")
        if fails:
            backend.inject(FaultSpec("device_fault", params={"at_step": 120}))
        with monitor_process(edge, bus_settings, log) as port:
            await wait_ready(port)
            job_id = await edge.submit(workflow(steps=150))
            prompt_id = (await edge.dispatched(job_id)).prompts[0].prompt_id
            await edge.first(job_id, JobProgressed)
        # SIGKILLed mid-job: the prompt ends while no monitor runs
        await wait_for(lambda: finished_on(backend, prompt_id))
        stored = await edge.client.history(job_id)
        assert not [e for e in stored if isinstance(e, JobCompleted | JobFailed)]
        with monitor_process(edge, bus_settings, log) as port:
            await wait_ready(port)
            outcome = await edge.outcome(job_id)
        assert isinstance(outcome, JobFailed if fails else JobCompleted), log.read_text()[-3000:]
        if isinstance(outcome, JobFailed):
            assert outcome.evidence.exception_type == "RuntimeError"


async def test_one_of_three_backends_dies_and_jobs_flow_to_the_others(
    bus: Bus, bus_settings: BusSettings
) -> None:
    specs = [SimBackendSpec(f"b{i}", step_time_s=0.01) for i in range(3)]
    async with running_edge(bus, bus_settings, specs) as edge:
        doomed = await edge.submit(workflow(steps=400))
        dead = (await edge.dispatched(doomed)).backend_id
        await edge.first(doomed, JobProgressed)
        crash = asyncio.create_task(edge.sim.backend(dead).crash(down_s=3.0))
        await wait_for(lambda: health_is(bus, dead, reachable=False))
        jobs = [await edge.submit(workflow(seed=i)) for i in range(4)]
        done = await asyncio.gather(*(edge.completion(job) for job in jobs))
        assert dead not in {d.backend_id for d in done}
        await crash
        await wait_for(lambda: health_is(bus, dead, reachable=True))
        lost = await edge.failure(doomed)
        assert (lost.backend_id, lost.evidence.observation) == (dead, "prompt_lost")
        health = await subject_events(
            bus, subj.TELEMETRY_STREAM, subj.per_backend(subj.BACKEND_HEALTH, dead)
        )
        seen = [h for h in health if isinstance(h, BackendHealth)]
        assert [up for up, _ in itertools.groupby(h.reachable for h in seen)] == [
            True,
            False,
            True,
        ]
        # the backend is announced up again before the prompt it lost is reported
        back = next(h for h in seen[[h.reachable for h in seen].index(False) :] if h.reachable)
        assert back.occurred_at <= lost.occurred_at


async def finished_on(backend: SimBackend, prompt_id: str) -> bool:
    return prompt_id in backend.proc.queue.history


async def health_is(bus: Bus, backend_id: str, *, reachable: bool) -> bool:
    health = await last_health(bus, backend_id)
    return health is not None and health.reachable is reachable
