"""Simulator fixtures: start simulated ComfyUI backends in the test's event loop.

Loaded by the root conftest for every test run, so it imports the simulator (aiohttp, httpx,
websockets) only inside the fixtures that need it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from comfysim.cluster import SimCluster
    from comfysim.spec import SimBackendSpec
    from comfysim.testing import SimSession

StartSim = Callable[..., Awaitable["SimCluster"]]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """`await start_sim(spec, ...)` → a running SimCluster, stopped after the test."""
    from comfysim.cluster import SimCluster

    clusters: list[SimCluster] = []

    async def start(*specs: SimBackendSpec) -> SimCluster:
        cluster = SimCluster(specs)
        await cluster.start()
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        await cluster.stop()


@pytest.fixture
async def sim_cluster(start_sim: StartSim) -> SimCluster:
    """One default backend with id `sim` (RTX 4090, 24 GiB, 10 ms sampler steps)."""
    from comfysim.spec import SimBackendSpec

    return await start_sim(SimBackendSpec(id="sim"))


@pytest.fixture
async def sim_session(start_sim: StartSim) -> AsyncIterator[SimSession]:
    """A fast default backend (5 ms sampler steps) with an HTTP client and a recording websocket."""
    import httpx

    from comfysim.spec import SimBackendSpec
    from comfysim.testing import SAFETY_TIMEOUT_S, SimSession, WsRecorder

    cluster = await start_sim(SimBackendSpec(id="sim", step_time_s=0.005))
    url = cluster.urls["sim"]
    async with httpx.AsyncClient(base_url=url, timeout=SAFETY_TIMEOUT_S) as http:
        ws = await WsRecorder.connect(url, "session-client")
        yield SimSession(url, http, ws, "session-client")
        await ws.close()
