"""Restart requests reach the backend: the simulator hook against a real simulated backend,
and the monitor's consumer of recovery decisions against the real edge (auto hook)."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from nats.js.errors import KeyNotFoundError

from comfysim import FaultSpec, SimBackend, SimBackendSpec, SimCluster
from contracts import BusSettings, RecoveryDecided, Strategy, derive_event_id, utcnow
from contracts import subjects as subj
from contracts.recovery import QuarantineBackend
from cr_client import Bus
from monitor.hooks import RestartRequest, SimulatorHook, is_simulator
from monitor.watchdog import DEAF_AFTER_S
from tests.support.edge import running_edge, wait_for, workflow

pytestmark = pytest.mark.integration


async def test_the_simulator_hook_restarts_a_wedged_simulated_backend() -> None:
    async with (
        SimCluster([SimBackendSpec("b0", step_time_s=0.01)]) as sim,
        httpx.AsyncClient(timeout=10) as http,
    ):
        backend = sim.backend("b0")
        backend.proc.wedged = True  # as the `wedged` fault leaves it
        assert await is_simulator(http, backend.url)
        request = RestartRequest("b0", backend.url, "backend_wedged", "j", "d")
        assert await SimulatorHook(http).restart(request) == "simulated backend restarted"

        await wait_for(lambda: restarted(backend))


async def test_a_wedge_is_reported_and_a_requested_restart_unwedges_the_backend(
    bus: Bus, bus_settings: BusSettings
) -> None:
    async with running_edge(bus, bus_settings) as edge:
        backend = edge.sim.backend("b0")
        backend.inject(FaultSpec("wedged"))
        job_id = await edge.submit()
        failed = await edge.failure(job_id)
        # wedged, not stalled; seen although the window (15 s) outlasts the deaf-socket
        # reopen (10 s), which used to restart it
        assert (failed.evidence.surface, failed.evidence.observation) == ("monitor", "wedged")
        assert backend.proc.wedged and edge.monitor.wedge_window_s > DEAF_AFTER_S
        # what recovery decides for BACKEND_WEDGED: quarantine, and ask for a restart
        await bus.publish(
            RecoveryDecided(
                event_id=derive_event_id(failed.event_id, "decided"),
                job_id=job_id,
                attempt=1,
                occurred_at=utcnow(),
                source="edge-test",
                answers_event_id=failed.event_id,
                strategy=Strategy.QUARANTINE_BACKEND,
                actions=[
                    QuarantineBackend(
                        backend_id="b0", reason="backend_wedged", restart_requested=True
                    )
                ],
            )
        )
        record = await wait_for(lambda: restart_record(bus, "b0"))
        assert (record["outcome"], record["hook"]) == ("restarted", "simulator")
        await wait_for(lambda: restarted(backend))
        # the restarted backend runs jobs again
        assert (await edge.completion(await edge.submit(workflow(seed=7)))).backend_id == "b0"


async def restarted(backend: SimBackend) -> bool:
    """Restarted once (the restart follows its reply), up again, and no longer wedged."""
    state = backend.sim_state()
    return bool(state["crashes"] == 1 and state["up"] and not state["wedged"])


async def restart_record(bus: Bus, backend_id: str) -> dict[str, str] | None:
    kv = await bus.kv(subj.KV_BACKENDS)
    try:
        entry = await kv.get(f"{backend_id}.restart")
    except KeyNotFoundError:
        return None
    return msgspec.json.decode(entry.value or b"{}")
