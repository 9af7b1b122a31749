"""The whole loop, five services as separate processes, real nats-server, the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from comfy_recovery.demo import base_workflow
from contracts import (
    Dispatch,
    FailureClass,
    FailureClassified,
    JobFailed,
    JobStatus,
    RecoveryDecided,
    UndecodableEventError,
    decode,
    derive_event_id,
    utcnow,
)
from contracts import subjects as subj
from contracts.codec import type_tag
from contracts.job import FailureEvidence
from cr_client import Bus
from tests.support.natsd import NatsServer
from tests.support.stream import stored_messages
from tests.support.system import System, query_chdb, running_system, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def workflow(**latent: int) -> dict[str, Any]:
    graph = copy.deepcopy(base_workflow())
    graph["5"]["inputs"].update(latent)
    graph["3"]["inputs"]["steps"] = 6
    return graph


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    async with running_system(nats_server.url, tmp_path_factory.mktemp("e2e")) as running:
        yield running


async def test_a_job_completes_and_its_history_reads_back_in_order(system: System) -> None:
    job_id = await system.client.submit(workflow())
    result = await system.client.result(job_id, timeout=120)
    assert result.status == JobStatus.COMPLETED, system.log
    assert result.outputs, "a completed job names its output files"
    types = [type_tag(type(e)) for e in await system.client.history(job_id)]
    assert types[:2] == ["job.submitted", "job.dispatched"]
    assert types[-1] == "job.completed"
    assert set(types[2:-1]) == {"job.progress"}, types


async def test_an_oom_is_classified_reduced_to_fit_and_completes(system: System) -> None:
    job_id = await system.client.submit(workflow(batch_size=8))
    result = await system.client.result(job_id, timeout=180)
    assert result.status == JobStatus.COMPLETED, system.log
    events = result.events
    failure = next(e for e in events if isinstance(e, JobFailed))
    assert failure.evidence.exception_type == "torch.OutOfMemoryError"
    assert "out of memory" in failure.evidence.message.lower()
    classified = next(e for e in events if isinstance(e, FailureClassified))
    assert classified.failure_class == FailureClass.GPU_OOM and classified.retryable
    decision = next(e for e in events if isinstance(e, RecoveryDecided))
    dispatch = next(a for a in decision.actions if isinstance(a, Dispatch))
    for graph in dispatch.workflows:
        for node in graph.values():
            inputs = node["inputs"]
            if node["class_type"].startswith("Empty") and "width" in inputs:
                assert inputs["width"] % 8 == 0 and inputs["height"] % 8 == 0


async def test_undecodable_bytes_are_dead_lettered_and_the_classifier_goes_on(
    system: System,
) -> None:
    bus = system.client.bus
    await bus.publish_raw(subj.per_job(subj.JOB_FAILED, "garbage"), b"{not json", {})
    failed = JobFailed(
        event_id="e2e-after-garbage",
        job_id="after-garbage",
        attempt=1,
        occurred_at=utcnow(),
        source="e2e",
        evidence=FailureEvidence(
            surface="execution_error",
            exception_type="torch.OutOfMemoryError",
            message="CUDA out of memory. Tried to allocate 2.00 GiB",
        ),
    )
    await bus.publish(failed)

    async def classified() -> bool:
        try:
            await bus.js.get_msg(
                subj.EVENTS_STREAM, subject=subj.per_job(subj.FAILURE_CLASSIFIED, "after-garbage")
            )
        except Exception:  # noqa: BLE001 - not there yet
            return False
        return True

    await wait_for(classified, 60)
    info = await bus.js.stream_info(subj.DEADLETTER_STREAM, subjects_filter=">")
    assert subj.deadletter(subj.per_job(subj.JOB_FAILED, "garbage")) in (info.state.subjects or {})
    assert derive_event_id("e2e-after-garbage", "classified")


async def test_clickhouse_holds_every_event_of_the_stream_exactly_once(system: System) -> None:
    bus = system.client.bus

    async def caught_up() -> bool:
        info = await bus.js.consumer_info(subj.EVENTS_STREAM, subj.DURABLE_ANALYTICS_EVENTS)
        return not info.num_pending and not info.num_ack_pending

    await wait_for(caught_up, 60)
    stored = await decodable_events(bus)
    await system.stack.stop_service("analytics")
    try:
        rows = await asyncio.to_thread(
            query_chdb,
            system.data_dir / "analytics",
            "SELECT count(), uniqExact(event_id) FROM comfy_recovery.events FINAL "
            "WHERE stream = 'CR_EVENTS'",
        )
    finally:
        system.stack.start_service("analytics")
    # the undecodable message of the dead-letter test is in the stream, not in ClickHouse
    assert rows[0][0] == rows[0][1] == len(stored), json.dumps(rows)


async def decodable_events(bus: Bus) -> set[str]:
    """Event ids of every decodable message in the events stream."""
    ids: set[str] = set()
    for msg in await stored_messages(bus, subj.EVENTS_STREAM):
        with contextlib.suppress(UndecodableEventError):
            ids.add(decode(msg.data).event_id)
    return ids
