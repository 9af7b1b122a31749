"""Operator actions from the console, each behind a confirmation page. Every POST calls
the API's own handler (`submitter.api.routes`), so the console refuses exactly what the API
refuses (404 unknown job, 409 the action does not apply, 422 a bad policy), with the reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from contracts import codec, subjects
from contracts.errors import PermanentError
from submitter.api import routes
from submitter.api.deps import ApiDeps, Deps
from submitter.api.problems import Problem
from submitter.api.schemas import CancelRequest, PolicyBody, RetryRequest
from submitter.api.ui import auth
from submitter.api.ui.render import done_page, page, problem_page

router = APIRouter(
    prefix="/ui", include_in_schema=False, dependencies=[Depends(auth.require_login)]
)


async def _confirm(request: Request, deps: Deps, job_id: str, template: str) -> HTMLResponse:
    """The confirmation page of an action on a job (the job must exist)."""
    try:
        view = await deps.view(job_id)
    except Problem as problem:
        return problem_page(request, problem, "/ui/jobs")
    return page(request, template, view=view)


@router.get("/jobs/{job_id}/cancel")
async def confirm_cancel(request: Request, deps: Deps, job_id: str) -> HTMLResponse:
    """Ask before cancelling."""
    return await _confirm(request, deps, job_id, "confirm_cancel.html")


@router.post("/jobs/{job_id}/cancel")
async def cancel(request: Request, deps: Deps, job_id: str) -> Response:
    """Cancel through the API's handler, then back to the job (live)."""
    fields = await auth.form_fields(request)
    body = CancelRequest(reason=fields.get("reason", "").strip() or "cancelled from the console")
    try:
        await routes.cancel_job(deps, job_id, body)
    except Problem as problem:
        return problem_page(request, problem, f"/ui/jobs/{job_id}")
    return RedirectResponse(f"/ui/jobs/{job_id}?live=true&done=cancel", status_code=303)


@router.get("/jobs/{job_id}/retry")
async def confirm_retry(request: Request, deps: Deps, job_id: str) -> HTMLResponse:
    """Ask before retrying, optionally with a new policy."""
    return await _confirm(request, deps, job_id, "confirm_retry.html")


@router.post("/jobs/{job_id}/retry")
async def retry(request: Request, deps: Deps, job_id: str) -> Response:
    """Retry through the API's handler (with the policy fields given), then back to the job."""
    fields = await auth.form_fields(request)
    back = f"/ui/jobs/{job_id}"
    try:
        body = RetryRequest(force=fields.get("force") == "on", policy=_policy(fields))
        await routes.retry_job(deps, job_id, body)
    except ValidationError as exc:
        return problem_page(request, Problem(422, "Invalid policy", _errors(exc)), back)
    except Problem as problem:
        return problem_page(request, problem, back)
    return RedirectResponse(f"{back}?live=true&done=retry", status_code=303)


def _policy(fields: dict[str, str]) -> PolicyBody | None:
    """The new policy's fields that were filled in (none: the job keeps its policy)."""
    given: dict[str, Any] = {
        name: fields[name].strip()
        for name in ("max_attempts", "deadline_s", "min_width", "min_height", "min_steps")
        if fields.get(name, "").strip()
    }
    if fields.get("allow_degradation") in ("true", "false"):
        given["allow_degradation"] = fields["allow_degradation"] == "true"
    return PolicyBody.model_validate(given) if given else None


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


@router.get("/control")
async def control(request: Request, deps: Deps) -> HTMLResponse:
    """Emergency stop and resume, with the last of each."""
    return page(request, "control.html", **await control_state(deps))


@router.get("/control/{action}")
async def confirm_control(request: Request, action: str) -> HTMLResponse:
    """Ask before an emergency stop or a resume."""
    if action not in ("emergency-stop", "resume"):
        return problem_page(request, Problem(404, "Not found", f"no action {action}"), "/ui")
    return page(request, "confirm_control.html", action=action)


@router.post("/control/{action}")
async def do_control(request: Request, deps: Deps, action: str) -> HTMLResponse:
    """Emergency stop or resume through the API's handler."""
    if action == "emergency-stop":
        await routes.emergency_stop(deps)
        detail = "Every prompt of ours is interrupted and dispatch is paused until you resume."
        return done_page(request, "Emergency stop requested", detail, "/ui/control")
    if action == "resume":
        await routes.resume(deps)
        return done_page(request, "Resume requested", "Dispatch goes on.", "/ui/control")
    return problem_page(request, Problem(404, "Not found", f"no action {action}"), "/ui/control")


async def control_state(deps: ApiDeps) -> dict[str, Any]:
    """The last emergency stop and resume in the event log, and whether dispatch is paused."""
    stop, stop_seq = await _last(deps, subjects.CONTROL_EMERGENCY_STOP)
    resumed, resumed_seq = await _last(deps, subjects.CONTROL_RESUMED)
    return {"stop": stop, "resumed": resumed, "paused": stop_seq > resumed_seq}


async def _last(deps: ApiDeps, subject: str) -> tuple[Any, int]:
    try:
        msg = await deps.client.bus.js.get_last_msg(subjects.EVENTS_STREAM, subject)
        return codec.decode(msg.data or b""), int(msg.seq or 0)
    except (NotFoundError, PermanentError):
        return None, 0
