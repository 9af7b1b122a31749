"""JobClient refuses what cannot run or cannot apply, and submit is idempotent per job id
(real nats-server)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from comfy_recovery.demo import base_workflow
from contracts import JobStatus, JobView, derive_event_id, utcnow
from contracts import subjects as subj
from contracts.eligibility import cancel_refusal, retry_refusal
from contracts.errors import JobNotEligibleError, JobNotFoundError, SubmitRefusedError
from contracts.job import Binding
from contracts.readmodel import encode_view
from contracts.workflow import (
    InvalidWorkflowError,
    WorkflowTooLargeError,
    resolve_bindings,
    submission_limit,
)
from cr_client import Bus, JobClient
from cr_client.client import SUBMITTED_ROLE


def wf() -> dict[str, Any]:
    return copy.deepcopy(base_workflow())


def test_node_input_params_bind_themselves_and_the_rest_is_refused() -> None:
    bound = resolve_bindings(wf(), {"5.width": 1024, "w": 8}, {"w": Binding("5", "height")})
    assert bound == {"5.width": Binding("5", "width"), "w": Binding("5", "height")}
    for params, bindings, says in (
        ({"width": 1}, {}, "no binding"),
        ({"9.": 1}, {}, "no binding"),
        ({"99.width": 1}, {}, "node 99"),
        ({"5.wide": 1}, {}, "wide"),
        ({}, {"x": Binding("42", "seed")}, "node 42"),
    ):
        with pytest.raises(InvalidWorkflowError, match=says):
            resolve_bindings(wf(), params, bindings)


def test_eligibility_of_operator_actions() -> None:
    assert retry_refusal(JobStatus.ABORTED, False) is None
    assert retry_refusal(JobStatus.COMPLETED, True) is None
    assert "force" in (retry_refusal(JobStatus.CANCELLED, False) or "")
    for status in (JobStatus.SUBMITTED, JobStatus.RUNNING, JobStatus.RECOVERING):
        assert retry_refusal(status, True) is not None
    assert cancel_refusal(JobStatus.RUNNING) is None
    assert cancel_refusal(JobStatus.COMPLETED) is not None


@pytest.mark.integration
async def test_submit_with_a_job_id_twice_stores_one_event(bus: Bus) -> None:
    client = JobClient(bus, source="t")
    first = await client.submit(wf(), {"5.width": 640}, job_id="same-job")
    again = await client.submit(wf(), {"5.width": 640}, job_id="same-job")
    assert first == again == "same-job"
    with pytest.raises(SubmitRefusedError, match="taken"):
        await client.submit(wf(), {"5.width": 768}, job_id="same-job")
    info = await bus.js.stream_info(subj.EVENTS_STREAM, subjects_filter="job.submitted.>")
    assert sum((info.state.subjects or {}).values()) == 1


@pytest.mark.integration
async def test_the_submission_event_id_derives_from_the_job_id(bus: Bus) -> None:
    """What an outage did: publishes buffered by nats-py reached the server late, each
    with its own id. Now every call for one job carries the same Nats-Msg-Id."""
    client = JobClient(bus, source="t")
    await client.submit(wf(), job_id="outage-job")
    msg = await bus.js.get_last_msg(
        subj.EVENTS_STREAM, subj.per_job(subj.JOB_SUBMITTED, "outage-job")
    )
    assert msg.headers[subj.HDR_MSG_ID] == derive_event_id("outage-job", SUBMITTED_ROLE)
    ack = await bus.publish_raw(
        msg.subject, msg.data, {subj.HDR_MSG_ID: msg.headers[subj.HDR_MSG_ID]}
    )
    assert ack.duplicate


@pytest.mark.integration
async def test_a_submission_over_the_bus_limit_is_refused_naming_it(bus: Bus) -> None:
    client = JobClient(bus, source="t")
    limit = submission_limit(bus.nc.max_payload)
    assert client.submission_limit == limit
    graph = wf()
    graph["6"]["inputs"]["text"] = "x" * limit
    with pytest.raises(WorkflowTooLargeError, match=str(limit)):
        await client.submit(graph)
    graph["6"]["inputs"]["text"] = "x" * (limit - 4000)
    job_id = await client.submit(graph)
    assert job_id


@pytest.mark.integration
async def test_cancel_and_retry_refuse_unknown_and_ineligible_jobs(bus: Bus) -> None:
    client = JobClient(bus, source="t")
    for action in (client.cancel, client.retry):
        with pytest.raises(JobNotFoundError):
            await action("nobody")
    view = JobView(job_id="ended", status=JobStatus.COMPLETED, updated_at=utcnow())
    await (await bus.kv(subj.KV_JOBS)).put("ended", encode_view(view))
    with pytest.raises(JobNotEligibleError, match="force"):
        await client.retry("ended")
    with pytest.raises(JobNotEligibleError, match="already ended"):
        await client.cancel("ended")
    await client.retry("ended", force=True)
    # a job whose read model is not written yet is known by its submission
    fresh = await client.submit(wf())
    await client.cancel(fresh)
    with pytest.raises(JobNotEligibleError, match="not ended"):
        await client.retry(fresh)
