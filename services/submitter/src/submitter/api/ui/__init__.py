"""The operator console at ``/ui``: server-rendered pages over the API's own handlers.

Jobs, a job's timeline and decisions (live over the API's SSE stream), the fleet, the
recovery charts, the what-if replay and the operator actions, each action behind a
confirmation page. Templates and static assets ship in this package (no CDN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from submitter.api.ui import auth
from submitter.api.ui.actions import router as actions_router
from submitter.api.ui.pages import router as pages_router
from submitter.api.ui.recovery_page import router as recovery_router
from submitter.api.ui.render import templates
from submitter.api.ui.replay_page import router as replay_router

STATIC: Final = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the console's routes, its static files and its login redirects to `app`."""
    app.include_router(pages_router)
    app.include_router(actions_router)
    app.include_router(recovery_router)
    app.include_router(replay_router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_exception_handler(auth.LoginRequired, _login)
    app.add_exception_handler(auth.TokenAccepted, _accepted)


async def _login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, auth.LoginRequired)
    if request.url.path.endswith(("/events", "/body")):
        return Response("login required", status_code=401, media_type="text/plain")
    if exc.error:
        page = templates.TemplateResponse(
            request,
            "login.html",
            {"next_url": auth.safe_next(exc.next_url), "error": exc.error},
            status_code=401,
        )
        return page
    return RedirectResponse(f"/ui/login?{_next(exc.next_url)}", status_code=303)


async def _accepted(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, auth.TokenAccepted)
    response = RedirectResponse(auth.safe_next(exc.url), status_code=303)
    return auth.with_cookie(response, request, exc.token)


def _next(url: str) -> str:
    return urlencode({"next": url})
