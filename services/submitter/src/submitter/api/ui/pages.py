"""Console pages: login, the job list, a job (live), the fleet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts import FailureClass, JobStatus, JobView
from contracts.errors import JobNotFoundError
from contracts.readmodel import TERMINAL
from submitter.api import routes
from submitter.api.deps import ApiDeps, Deps
from submitter.api.problems import Problem
from submitter.api.ui import auth, fleet, present
from submitter.api.ui.render import page, problem_page

router = APIRouter(prefix="/ui", include_in_schema=False)
secured = [Depends(auth.require_login)]
MAX_ROWS = 500
DONE = {"cancel": "Cancel requested.", "retry": "Retry requested."}


@router.get("", dependencies=secured)
@router.get("/", dependencies=secured)
async def home() -> RedirectResponse:
    """The console opens on the job list."""
    return RedirectResponse("/ui/jobs", status_code=303)


@router.get("/login")
async def login_form(request: Request, next: str = "/ui/jobs") -> HTMLResponse:
    """The token form."""
    return page(request, "login.html", next_url=auth.safe_next(next), error="")


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token and keep it in the console cookie."""
    fields = await auth.form_fields(request)
    target = auth.safe_next(fields.get("next", ""))
    token = fields.get("token", "")
    if not auth.valid(request, token):
        return page(request, "login.html", 401, next_url=target, error="that token is not valid")
    return auth.with_cookie(RedirectResponse(target, status_code=303), request, token)


@router.post("/logout")
async def logout() -> RedirectResponse:
    """Forget the console cookie."""
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/ui")
    return response


@router.get("/jobs", dependencies=secured)
async def jobs(
    request: Request,
    deps: Deps,
    status: str = "",
    failure_class: str = "",
    backend: str = "",
    since: str = "",
) -> HTMLResponse:
    """Every job in the read model, newest first, filtered."""
    after = _parse_local(since)
    views = [v for v in await deps.views() if _matches(v, status, failure_class, backend, after)]
    views.sort(key=lambda v: v.submitted_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return page(
        request,
        "jobs.html",
        jobs=views[:MAX_ROWS],
        total=len(views),
        limit=MAX_ROWS,
        statuses=[s.value for s in JobStatus],
        classes=[c.value for c in FailureClass],
        backends=sorted(deps.registry.views),
        chosen={"status": status, "failure_class": failure_class, "backend": backend},
        since=since if after else "",
        since_error=bool(since) and after is None,
    )


def _matches(
    view: JobView, status: str, failure_class: str, backend: str, after: datetime | None
) -> bool:
    classes = {s.failure_class for s in view.recovery_history} | {view.last_failure_class}
    return (
        (not status or view.status == status)
        and (not failure_class or failure_class in classes)
        and (not backend or backend in view.backends_tried)
        and (after is None or (view.submitted_at is not None and view.submitted_at >= after))
    )


def _parse_local(text: str) -> datetime | None:
    """A ``datetime-local`` field (or any ISO 8601 time), UTC unless zoned."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@router.get("/jobs/{job_id}", dependencies=secured)
async def job(
    request: Request, deps: Deps, job_id: str, live: bool = False, done: str = ""
) -> HTMLResponse:
    """A job: status, user message, parameters, decisions, outputs, timeline; live."""
    try:
        context = await job_context(deps, job_id)
    except Problem as problem:
        return problem_page(request, problem, "/ui/jobs")
    live = live or context["view"].status not in TERMINAL
    said = DONE.get(done, "")
    return page(request, "job.html", live=live, types=present.live_types(), said=said, **context)


@router.get("/jobs/{job_id}/body", dependencies=secured)
async def job_body(request: Request, deps: Deps, job_id: str) -> HTMLResponse:
    """The job page's changing part, fetched again when its SSE stream says something."""
    try:
        context = await job_context(deps, job_id)
    except Problem as problem:
        return problem_page(request, problem, "/ui/jobs")
    return page(request, "_job_body.html", **context)


@router.get("/jobs/{job_id}/events", dependencies=secured)
async def job_events(deps: Deps, job_id: str) -> Response:
    """The API's SSE stream of the job (`routes.job_events`), with the console's login."""
    return await routes.job_events(deps, job_id)


async def job_context(deps: ApiDeps, job_id: str) -> dict[str, Any]:
    """What the job page shows."""
    view = await deps.view(job_id)
    try:
        events = await deps.client.history(job_id)
    except JobNotFoundError:
        events = []  # the read model outlived the events (stream retention)
    rows, progress_reports = present.timeline(events)
    return {
        "view": view,
        "ended": view.status in TERMINAL,
        "rows": rows,
        "progress_reports": progress_reports,
        "decisions": present.decisions(events),
        "params": present.param_rows(view),
        "outputs": present.output_files(view),
    }


@router.get("/fleet", dependencies=secured)
async def fleet_page(request: Request, deps: Deps) -> HTMLResponse:
    """Every backend: health, breaker, quarantine, queue, VRAM and GPU, last failures."""
    return page(request, "fleet.html", **await fleet.context(deps))


@router.get("/fleet/body", dependencies=secured)
async def fleet_body(request: Request, deps: Deps) -> HTMLResponse:
    """The fleet table alone, for the page's periodic refresh."""
    return page(request, "_fleet_body.html", **await fleet.context(deps))
