"""The seed system's routes and response shapes, so its clients switch without rewrites."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request

from contracts import JobStatus, JobView, RecoveryPolicy
from contracts.errors import JobNotEligibleError, JobNotFoundError
from contracts.readmodel import TERMINAL
from submitter.api.deps import Deps, authorize, check_token
from submitter.api.problems import Problem
from submitter.api.routes import health_body, refusals, statistics
from submitter.api.schemas import RecoveryStatistics, SeedRetry, SeedSubmit

router = APIRouter(prefix="/api/error-recovery", tags=["seed-compatible"])
secured = [Depends(authorize)]
SEED_STATUS = {
    JobStatus.SUBMITTED: "pending",
    JobStatus.DISPATCHED: "pending",
    JobStatus.RUNNING: "running",
    JobStatus.FAILED: "failed",
    JobStatus.RECOVERING: "recovering",
    JobStatus.COMPLETED: "completed",
    JobStatus.ABORTED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def seed_job(view: JobView) -> dict[str, Any]:
    """A job in the seed's vocabulary, with our full read model alongside."""
    last = view.recovery_history[-1] if view.recovery_history else None
    return {
        "job_id": view.job_id,
        "status": SEED_STATUS[view.status],
        "progress_percent": 100.0 if view.status == JobStatus.COMPLETED else view.progress,
        "recovery_attempts": view.retry_count,
        "last_error": view.abort_reason or (last.failure_class if last else None),
        "recovery_history": msgspec.to_builtins(view.recovery_history),
        "details": msgspec.to_builtins(view),
    }


@router.post("/jobs/submit", dependencies=secured)
async def submit(deps: Deps, body: SeedSubmit) -> dict[str, Any]:
    """Submit a job; ``timeout_minutes`` becomes the job's deadline."""
    policy = RecoveryPolicy(deadline_s=body.timeout_minutes * 60.0)
    with refusals():
        job_id = await deps.client.submit(
            body.workflow_data, body.parameters or {}, policy, labels={"job_type": body.job_type}
        )
    return {
        "success": True,
        "message": "Job submitted with intelligent recovery",
        "data": {"job_id": job_id, "status": "pending"},
    }


@router.get("/jobs/{job_id}/status", dependencies=secured)
async def status(deps: Deps, job_id: str) -> dict[str, Any]:
    """The job with its recovery history."""
    return {"success": True, "job_id": job_id, "data": seed_job(await deps.view(job_id))}


@router.post("/jobs/{job_id}/retry", dependencies=secured)
async def retry(deps: Deps, job_id: str, body: SeedRetry | None = None) -> dict[str, Any]:
    """Retry a failed job (``force_retry`` retries from any state)."""
    body = body or SeedRetry()
    try:
        await deps.client.retry(job_id, force=body.force_retry)
    except JobNotFoundError as exc:
        raise Problem(404, "Job not found", f"no job {job_id}") from exc
    except JobNotEligibleError as exc:
        raise Problem(
            400,
            "Job cannot be retried",
            f"Job is in '{SEED_STATUS[JobStatus(exc.status)]}' state and cannot be retried: "
            f"{exc.reason}.",
        ) from exc
    return {
        "success": True,
        "message": f"Job {job_id} queued for retry with error recovery",
        "job_id": job_id,
    }


@router.get("/statistics", dependencies=secured, response_model=RecoveryStatistics)
async def seed_statistics(deps: Deps) -> RecoveryStatistics:
    """total_errors, successful_recoveries, failed_recoveries, recovery_rate, distribution."""
    stats = await statistics(deps, False)
    return RecoveryStatistics(**{k: stats[k] for k in RecoveryStatistics.model_fields})


@router.get("/statistics/detailed", dependencies=secured)
async def seed_statistics_detailed(deps: Deps) -> dict[str, Any]:
    """Everything analytics knows, in the seed's envelope."""
    return {
        "success": True,
        "data": await statistics(deps, True),
        "message": "Detailed statistics retrieved successfully",
    }


@router.post("/emergency-stop", dependencies=secured)
async def seed_emergency_stop(deps: Deps) -> dict[str, Any]:
    """Interrupt every running job and pause dispatch until resumed."""
    active = [v.job_id for v in await deps.views() if v.status not in TERMINAL]
    await deps.client.emergency_stop("HTTP API (seed route)")
    return {
        "success": True,
        "message": f"Emergency stop completed. Cancelled {len(active)} jobs",
        "cancelled_jobs": active,
        "queue_cleared": True,
    }


@router.delete("/cleanup", dependencies=secured)
async def seed_cleanup(deps: Deps, hours: int = Query(24)) -> dict[str, Any]:
    """Drop finished jobs' read models older than `hours`."""
    if hours < 1:
        raise Problem(400, "Invalid hours", "Hours must be at least 1")
    deleted = await deps.cleanup(hours)
    return {
        "success": True,
        "message": f"Cleaned up data older than {hours} hours",
        "data": {"deleted_jobs": deleted},
    }


@router.get("/health")
async def seed_health(deps: Deps, request: Request) -> dict[str, Any]:
    """The seed's health shape."""
    if not deps.open_health:
        check_token(request)
    body = health_body(deps)
    return {
        "success": body["nats"]["connected"],
        "status": "healthy" if body["nats"]["connected"] else "unhealthy",
        "comfyui_connected": any(b["reachable"] for b in body["backends"]),
        "error_recovery_available": body["nats"]["connected"],
        "backends": body["backends"],
    }
