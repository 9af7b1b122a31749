"""The jobs API: list, get, cancel one (/api/jobs/{id}/cancel), cancel many (/api/jobs/cancel)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from comfysim.jobs import (
    JOB_STATUSES,
    finished_job,
    invalid_statuses,
    queued_job,
    select_jobs,
)
from comfysim.middleware import BACKEND
from comfysim.routes_prompt import is_canonical_uuid

routes = web.RouteTableDef()


def _all_jobs(request: web.Request) -> list[dict[str, Any]]:
    queue = request.app[BACKEND].proc.queue
    jobs = [queued_job(item, running=False) for item in queue.pending()]
    if queue.running is not None:
        jobs.append(queued_job(queue.running, running=True))
    jobs.extend(finished_job(entry) for entry in queue.history.values())
    return jobs


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _positive_int(raw: str | None, default: int | None) -> int | None:
    if raw is None:
        return default
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


@routes.get("/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    """Jobs filtered, sorted and paginated."""
    query = request.rel_url.query
    statuses = None
    if "status" in query:
        statuses, bad = invalid_statuses(query["status"])
        if bad:
            valid = ", ".join(JOB_STATUSES)
            return _bad_request(f"Invalid status value(s): {', '.join(bad)}. Valid values: {valid}")
    try:
        limit = _positive_int(query.get("limit"), None)
        offset = _positive_int(query.get("offset"), 0) or 0
    except ValueError:
        return _bad_request("limit and offset must be non-negative integers")
    if limit == 0:
        return _bad_request("limit must be a positive integer")
    descending = query.get("sort_order", "desc") != "asc"
    jobs = select_jobs(
        _all_jobs(request),
        statuses,
        query.get("workflow_id"),
        query.get("sort_by", "created_at"),
        descending,
    )
    page = jobs[offset : offset + limit] if limit is not None else jobs[offset:]
    pagination = {
        "offset": offset,
        "limit": limit,
        "total": len(jobs),
        "has_more": offset + len(page) < len(jobs),
    }
    return web.json_response({"jobs": page, "pagination": pagination})


@routes.get("/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    """One job, with outputs, status and workflow once finished; 404 JSON when unknown."""
    job_id = request.match_info["job_id"]
    queue = request.app[BACKEND].proc.queue
    if job_id in queue.history:
        return web.json_response(finished_job(queue.history[job_id], detail=True))
    if queue.running is not None and queue.running.prompt_id == job_id:
        return web.json_response(queued_job(queue.running, running=True))
    for item in queue.pending():
        if item.prompt_id == job_id:
            return web.json_response(queued_job(item, running=False))
    return web.json_response({"error": "Job not found"}, status=404)


@routes.post("/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    """Interrupt it if running, drop it if pending: {"cancelled": bool}."""
    cancelled = request.app[BACKEND].cancel(request.match_info["job_id"])
    return web.json_response({"cancelled": cancelled})


@routes.post("/jobs/cancel")
async def cancel_jobs(request: web.Request) -> web.Response:
    """Cancel several jobs; ids must be canonical UUIDs."""
    body = await request.json()
    job_ids = body.get("job_ids", []) if isinstance(body, dict) else []
    invalid = [job_id for job_id in job_ids if not is_canonical_uuid(job_id)]
    if invalid:
        return web.json_response(
            {"error": "job_ids contains invalid id(s)", "invalid_ids": invalid}, status=400
        )
    backend = request.app[BACKEND]
    results = [backend.cancel(job_id) for job_id in job_ids]
    return web.json_response({"cancelled": any(results)})
