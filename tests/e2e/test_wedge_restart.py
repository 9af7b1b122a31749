"""A wedged backend, end to end: the monitor reports it (the wedge window outlasts a reopen
of its deaf socket), the classifier says BACKEND_WEDGED, recovery quarantines the backend and
asks for a restart, the monitor's default hook restarts the simulated backend, and the job
completes on the other backend."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.js.errors import KeyNotFoundError

from comfy_recovery.demo import base_workflow
from comfysim import FaultSpec, SimBackendSpec
from contracts import (
    BackendHealth,
    BreakerChanged,
    BreakerState,
    BusSettings,
    FailureClass,
    FailureClassified,
    JobDispatched,
    JobStatus,
    QuarantineBackend,
    RecoveryDecided,
)
from contracts import subjects as subj
from cr_client import Bus
from monitor.watchdog import DEAF_AFTER_S
from tests.support.natsd import NatsServer
from tests.support.stream import stored_events
from tests.support.system import System, running_system, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
WEDGE_S = DEAF_AFTER_S + 5
"""Longer than the deaf-socket reopen, so the wedge must survive a reconnect to be seen."""


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    backends = [SimBackendSpec("b0", step_time_s=0.02), SimBackendSpec("b1", step_time_s=0.02)]
    env = {"CR_MONITOR_WEDGE_WINDOW_S": str(WEDGE_S)}  # the restart hook stays the default
    async with running_system(
        nats_server.url, tmp_path_factory.mktemp("wedge"), backends, env
    ) as running:
        yield running


async def test_a_wedged_backend_is_restarted_and_the_job_completes_elsewhere(
    system: System, nats_server: NatsServer
) -> None:
    workflow = copy.deepcopy(base_workflow())
    workflow["9"]["inputs"]["filename_prefix"] = "wedging"
    for backend in system.sim.backends():  # whichever backend gets it wedges
        backend.inject(FaultSpec("wedged", match={"filename_prefix_contains": "wedging"}))
    job_id = await system.client.submit(workflow)
    wedged = ""
    async for event in system.client.follow(job_id):
        if isinstance(event, JobDispatched):
            wedged = event.backend_id
            break
    for backend in system.sim.backends():  # the other one must not wedge the retry
        if backend.id != wedged:
            backend.clear_faults()
    result = await system.client.result(job_id, timeout=120)
    assert result.status == JobStatus.COMPLETED, system.log
    classified = [e.failure_class for e in result.events if isinstance(e, FailureClassified)]
    assert classified == [FailureClass.BACKEND_WEDGED], system.log
    asked = [
        a
        for e in result.events
        if isinstance(e, RecoveryDecided)
        for a in e.actions
        if isinstance(a, QuarantineBackend)
    ]
    assert [(a.backend_id, a.restart_requested) for a in asked] == [(wedged, True)]
    done = [e for e in result.events if isinstance(e, JobDispatched)][-1]
    assert done.backend_id != wedged
    backend = system.sim.backend(wedged)

    async def restarted() -> bool:
        return backend.crashes == 1 and backend.up and not backend.proc.wedged

    await wait_for(restarted, 60)
    bus = await Bus.connect(BusSettings(url=nats_server.url), ensure=False)
    try:
        record = await wait_for(lambda: restart_record(bus, wedged), 30)
    finally:
        await bus.close()
    assert (record["outcome"], record["hook"]) == ("restarted", "simulator")

    # the restart, not the quarantine's open time, lets a probe judge the fresh process
    bus = await Bus.connect(BusSettings(url=nats_server.url), ensure=False)
    try:

        async def probing() -> list[BreakerChanged]:
            events = await stored_events(bus, subj.TELEMETRY_STREAM, f"{subj.BACKEND_BREAKER}.>")
            return [
                e
                for e in events
                if isinstance(e, BreakerChanged)
                and e.backend_id == wedged
                and e.state is BreakerState.HALF_OPEN
            ]

        [half_open, *_] = await wait_for(probing, 60)
        health = await stored_events(bus, subj.TELEMETRY_STREAM, f"{subj.BACKEND_HEALTH}.>")
    finally:
        await bus.close()
    notices = [e for e in health if isinstance(e, BackendHealth) and e.restarted]
    assert [n.backend_id for n in notices] == [wedged]
    assert half_open.causation_id == f"{notices[0].event_id}:half-open"


async def restart_record(bus: Bus, backend_id: str) -> dict[str, str] | None:
    """The registry's ``<backend>.restart`` entry, once written."""
    kv = await bus.kv(subj.KV_BACKENDS)
    try:
        entry = await kv.get(f"{backend_id}.restart")
    except KeyNotFoundError:
        return None
    return msgspec.json.decode(entry.value or b"{}")
