"""``/v1``: submit, read, follow (SSE), retry, cancel, statistics, control, health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from contracts.codec import encode, type_tag
from contracts.errors import (
    JobNotEligibleError,
    JobNotFoundError,
    SubmitRefusedError,
)
from contracts.job import Binding
from contracts.rpc import StatsUnavailableError
from contracts.workflow import InvalidWorkflowError, WorkflowTooLargeError
from cr_client.rpc import request_stats
from submitter.api.deps import ApiDeps, Deps, authorize, check_token, policy_of
from submitter.api.problems import PROBLEM, Problem
from submitter.api.schemas import Accepted, CancelRequest, JobAccepted, JobRequest, RetryRequest

router = APIRouter(prefix="/v1", tags=["v1"])
secured = [Depends(authorize)]


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json answers a route may give."""
    said = {
        401: "no valid bearer token",
        404: "no such job",
        409: "the action does not apply to the job as it stands (job_status says why)",
        413: "the submission is over the limit (limit names it)",
        422: "the request or the workflow cannot run (node and input named)",
    }
    return {code: {"description": said[code], "content": {PROBLEM: {}}} for code in codes}


async def submit_job(deps: ApiDeps, body: JobRequest) -> str:
    """Publish job.submitted; the client refuses what cannot run (node and input named)."""
    bindings = {k: Binding(v.node, v.input) for k, v in body.bindings.items()}
    with refusals():
        return await deps.client.submit(
            body.workflow,
            body.params,
            policy_of(body.policy),
            bindings=bindings,
            expected_outputs=body.expected_outputs,
            labels=body.labels,
        )


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """The client's refusals as problems: 422 cannot run, 413 too large, 404 no such job,
    409 the action does not apply to the job as it stands."""
    try:
        yield
    except InvalidWorkflowError as exc:
        raise Problem(422, "Invalid workflow", str(exc), node=exc.node, input=exc.input) from exc
    except WorkflowTooLargeError as exc:
        raise Problem(413, "Request too large", str(exc), limit=exc.limit) from exc
    except SubmitRefusedError as exc:
        raise Problem(409, "Submission refused", str(exc)) from exc
    except JobNotFoundError as exc:
        raise Problem(404, "Job not found", f"no job {exc}") from exc
    except JobNotEligibleError as exc:
        raise Problem(409, "Action does not apply", str(exc), job_status=exc.status) from exc


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobAccepted,
    dependencies=secured,
    responses=_problems(401, 413, 422),
)
async def post_job(deps: Deps, body: JobRequest) -> JobAccepted:
    """Submit a ComfyUI workflow (API format) with optional params and policy."""
    return JobAccepted(job_id=await submit_job(deps, body))


@router.get("/jobs/{job_id}", dependencies=secured)
async def get_job(deps: Deps, job_id: str) -> JSONResponse:
    """Status, retry count, recovery history, original and current parameters."""
    view = await deps.view(job_id)
    return JSONResponse(msgspec.to_builtins(view))


@router.get("/jobs/{job_id}/events", dependencies=secured)
async def job_events(deps: Deps, job_id: str) -> StreamingResponse:
    """The job's events as Server-Sent Events, from the first, live, until it ends."""
    await deps.view(job_id)

    async def stream() -> AsyncIterator[bytes]:
        async for event in deps.client.follow(job_id):
            head = f"id: {event.event_id}\nevent: {type_tag(type(event))}\ndata: "
            yield head.encode() + encode(event) + b"\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    response_model=Accepted,
    dependencies=secured,
    responses=_problems(401, 404, 409),
)
async def retry_job(deps: Deps, job_id: str, body: RetryRequest | None = None) -> Accepted:
    """Run an aborted (or, with ``force``, a cancelled or completed) job again.

    404 for an unknown job, 409 when its status does not allow a retry.
    """
    body = body or RetryRequest()
    with refusals():
        await deps.client.retry(job_id, force=body.force, policy=policy_of(body.policy))
    return Accepted(job_id=job_id)


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    response_model=Accepted,
    dependencies=secured,
    responses=_problems(401, 404, 409),
)
async def cancel_job(deps: Deps, job_id: str, body: CancelRequest | None = None) -> Accepted:
    """Cancel a job; its running prompt is interrupted by id. 404 unknown, 409 ended."""
    with refusals():
        await deps.client.cancel(job_id, (body or CancelRequest()).reason)
    return Accepted(job_id=job_id)


async def statistics(deps: ApiDeps, detailed: bool) -> dict[str, Any]:
    """Ask analytics over request-reply; 503 when it does not answer."""
    try:
        return await request_stats(deps.client.bus, None, detailed)
    except StatsUnavailableError as exc:
        raise Problem(503, "Statistics unavailable", str(exc)) from exc


@router.get("/statistics", dependencies=secured)
async def get_statistics(deps: Deps) -> dict[str, Any]:
    """Errors, recoveries, recovery rate and error distribution, with per-class figures."""
    return await statistics(deps, False)


@router.get("/statistics/detailed", dependencies=secured)
async def get_statistics_detailed(deps: Deps) -> dict[str, Any]:
    """Statistics plus per-backend and per-strategy tables."""
    return await statistics(deps, True)


@router.post("/emergency-stop", status_code=202, response_model=Accepted, dependencies=secured)
async def emergency_stop(deps: Deps) -> Accepted:
    """Interrupt all our prompts on every backend and pause dispatch."""
    await deps.client.emergency_stop("HTTP API")
    return Accepted()


@router.post("/resume", status_code=202, response_model=Accepted, dependencies=secured)
async def resume(deps: Deps) -> Accepted:
    """Let dispatch go on after an emergency stop."""
    await deps.client.resume()
    return Accepted()


@router.delete("/cleanup", dependencies=secured)
async def cleanup(deps: Deps, hours: float = Query(24, ge=1, le=24 * 365)) -> dict[str, int]:
    """Drop read models of jobs that ended more than `hours` ago (the event log stays)."""
    return {"deleted": await deps.cleanup(hours)}


def health_body(deps: ApiDeps) -> dict[str, Any]:
    """This service, NATS and every backend."""
    backends = [
        {
            "id": v.id,
            "reachable": v.reachable,
            "breaker": v.breaker,
            "queue": v.queue,
            "comfyui_version": v.version,
        }
        for v in deps.registry.views.values()
    ]
    nats_ok = deps.client.bus.nc.is_connected
    return {
        "status": "ok" if nats_ok else "degraded",
        "service": "submitter",
        "nats": {"connected": nats_ok},
        "backends": backends,
    }


@router.get("/health")
async def health(deps: Deps, request: Request) -> JSONResponse:
    """Health of this service, NATS and every backend (open unless configured otherwise)."""
    if not deps.open_health:
        check_token(request)
    body = health_body(deps)
    return JSONResponse(body, status_code=200 if body["nats"]["connected"] else 503)
