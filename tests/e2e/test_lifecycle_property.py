"""Lifecycle property (issue 11): random sequences of client actions against the live stack
(five services as processes, real NATS, the simulator with OOMs injected).

Whatever the sequence: every accepted job ends (or, while dispatch is stopped, says why it
waits); every action is either refused with a reason or has its effect (a cancel ends the
job, a retry is answered by a decision); and no service restarts.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfy_recovery.demo import base_workflow
from comfysim import FaultSpec, SimBackendSpec
from contracts import JobStatus, RecoveryDecided
from contracts.eligibility import cancel_refusal, retry_refusal
from contracts.errors import JobNotEligibleError, JobNotFoundError
from contracts.job import Binding, JobRetryRequested
from contracts.readmodel import TERMINAL
from contracts.workflow import InvalidWorkflowError
from tests.support.natsd import NatsServer
from tests.support.system import System, running_system, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
END_S = 90.0
"""Bound on how long an accepted job may take to end (a hang fails the test)."""

SUBMIT = st.tuples(st.just("submit"), st.sampled_from(["ok", "oom", "model_missing", "slow"]))
INVALID = st.tuples(st.just("invalid"), st.sampled_from(["unbound", "no_node", "bad_link"]))
CANCEL = st.tuples(st.just("cancel"), st.integers(0, 9))
RETRY = st.tuples(st.just("retry"), st.integers(0, 9), st.booleans())
STOP = st.tuples(st.just("stop"))
UNKNOWN = st.tuples(st.just("unknown"), st.sampled_from(["cancel", "retry"]))
SETTLE = st.tuples(st.just("settle"))
"""Wait for every job so far to end (then cancels and retries meet ended jobs)."""
ACTIONS = st.lists(
    st.one_of(SUBMIT, SUBMIT, INVALID, CANCEL, RETRY, RETRY, SETTLE, STOP, UNKNOWN),
    min_size=3,
    max_size=8,
)


@pytest.fixture(scope="module")
async def system(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    backends = [SimBackendSpec("b0", step_time_s=0.05), SimBackendSpec("b1", step_time_s=0.05)]
    env = {"CR_RECOVERY_BACKOFF__BASE_S": "0.2", "CR_RECOVERY_BACKOFF__CAP_S": "1"}
    async with running_system(
        nats_server.url, tmp_path_factory.mktemp("lifecycle"), backends, env
    ) as running:
        yield running


@dataclass
class Run:
    """What one example did so far."""

    system: System
    jobs: list[str] = field(default_factory=list)
    n: int = 0

    def graph(self, steps: int = 3) -> tuple[str, dict[str, Any]]:
        self.n += 1
        prefix = f"life-{id(self)}-{self.n}"
        g = copy.deepcopy(base_workflow())
        g["3"]["inputs"]["steps"] = steps
        g["9"]["inputs"]["filename_prefix"] = prefix
        return prefix, g


async def view_status(system: System, job_id: str) -> JobStatus | None:
    try:
        return (await system.client.status(job_id)).status
    except JobNotFoundError:
        return None


async def submit(run: Run, kind: str) -> None:
    prefix, g = run.graph(steps=60 if kind == "slow" else 3)
    if kind == "oom":
        for backend in run.system.sim.backends():
            spec = FaultSpec("oom", times=1, match={"filename_prefix_contains": prefix})
            backend.inject(spec)
    if kind == "model_missing":
        g["4"]["inputs"]["ckpt_name"] = "absent_model.safetensors"
    run.jobs.append(await run.system.client.submit(g))


async def invalid(run: Run, kind: str) -> None:
    _, g = run.graph()
    params: dict[str, Any] = {}
    bindings: dict[str, Binding] = {}
    if kind == "unbound":
        params = {"width": 640}
    elif kind == "no_node":
        params, bindings = {"w": 640}, {"w": Binding("404", "width")}
    else:
        g["3"]["inputs"]["latent_image"] = ["404", 0]
    with pytest.raises(InvalidWorkflowError):
        await run.system.client.submit(g, params, bindings=bindings)


async def cancel(run: Run, index: int) -> None:
    if not run.jobs:
        return
    job_id = run.jobs[index % len(run.jobs)]
    client = run.system.client
    try:
        await client.cancel(job_id, "property test")
    except JobNotEligibleError as exc:
        assert cancel_refusal(JobStatus(exc.status)) is not None
        return
    # the effect: the job ends (cancelled, or it ended on its own first)
    await wait_for(lambda: ended(run.system, job_id), END_S)


async def retry(run: Run, index: int, force: bool) -> None:
    if not run.jobs:
        return
    job_id = run.jobs[index % len(run.jobs)]
    client = run.system.client
    try:
        await client.retry(job_id, force=force)
    except JobNotEligibleError as exc:
        assert retry_refusal(JobStatus(exc.status), force) is not None
        return
    events = await client.history(job_id)
    request = [e for e in events if isinstance(e, JobRetryRequested)][-1]
    # the effect: recovery answers the request with a decision
    await wait_for(lambda: answered(run.system, job_id, request.event_id), END_S)


async def stop_and_resume(run: Run) -> None:
    client = run.system.client
    await client.emergency_stop("property test")
    try:
        for job_id in run.jobs:
            await wait_for(lambda j=job_id: ended_or_says_why(run.system, j), END_S)
    finally:
        await client.resume()


async def unknown(run: Run, action: str) -> None:
    client = run.system.client
    with pytest.raises(JobNotFoundError):
        if action == "cancel":
            await client.cancel("never-submitted-job")
        else:
            await client.retry("never-submitted-job", force=True)


async def settle(run: Run) -> None:
    for job_id in run.jobs:
        await wait_for(lambda j=job_id: ended(run.system, j), END_S)


async def ended(system: System, job_id: str) -> bool:
    return await view_status(system, job_id) in TERMINAL


async def ended_or_says_why(system: System, job_id: str) -> bool:
    try:
        view = await system.client.status(job_id)
    except JobNotFoundError:
        return False
    return view.status in TERMINAL or "emergency stop" in (view.user_message or "").lower()


async def answered(system: System, job_id: str, request_id: str) -> bool:
    events = await system.client.history(job_id)
    return any(isinstance(e, RecoveryDecided) and e.answers_event_id == request_id for e in events)


@settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
async def test_every_accepted_job_ends_and_every_action_is_refused_or_takes_effect(
    system: System, actions: list[tuple[Any, ...]]
) -> None:
    run = Run(system)
    for action in actions:
        match action:
            case ("submit", kind):
                await submit(run, kind)
            case ("invalid", kind):
                await invalid(run, kind)
            case ("cancel", index):
                await cancel(run, index)
            case ("retry", index, force):
                await retry(run, index, force)
            case ("stop",):
                await stop_and_resume(run)
            case ("unknown", what):
                await unknown(run, what)
            case ("settle",):
                await settle(run)
    await settle(run)
    assert system.stack.restarts == {}, system.log
