"""A host OOM at the batch's source, end to end: the simulated backend's RAM cannot hold the
whole empty batch, so recovery frees memory, runs it once more, then builds each part of the
batch at the source, and the job completes with every image (issue 12)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import pytest

from comfy_recovery.demo import base_workflow
from comfysim import SimBackendSpec
from contracts import FailureClassified, JobStatus, RecoveryDecided
from contracts.taxonomy import FailureClass, Strategy
from tests.support.natsd import NatsServer
from tests.support.system import System, running_system

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]
LATENT_BYTES = 4 * 64 * 64 * 4
"""One 512x512 image's empty latent in the simulator's host-memory model."""


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    # RAM for three latents: the batch of 4 cannot be built, a part of 2 can
    backend = SimBackendSpec("b0", step_time_s=0.02, ram_total=3 * LATENT_BYTES)
    async with running_system(
        nats_server.url, tmp_path_factory.mktemp("host-oom"), [backend]
    ) as running:
        yield running


async def test_a_batch_its_source_cannot_hold_completes_with_every_image(system: System) -> None:
    graph = copy.deepcopy(base_workflow())
    graph["5"]["inputs"].update(width=512, height=512, batch_size=4)
    graph["9"]["inputs"]["filename_prefix"] = "hostoom"
    job_id = await system.client.submit(graph)
    result = await system.client.result(job_id, timeout=120)
    assert result.status is JobStatus.COMPLETED, system.log
    failures = [e.failure_class for e in result.events if isinstance(e, FailureClassified)]
    assert failures and set(failures) == {FailureClass.HOST_OOM}
    decided = [e for e in result.events if isinstance(e, RecoveryDecided)]
    assert Strategy.FREE_VRAM in decided[0].strategies  # memory freed before the retry
    assert decided[-1].strategy is Strategy.REDUCE_PARAMS
    assert sum(len(files) for files in result.outputs.values()) == 4
