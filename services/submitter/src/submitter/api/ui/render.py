"""The console's templates and the page/fragment/error responses built from them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from submitter.api.problems import Problem

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _span(pair: list[float], fmt: str = "{}") -> str:
    """A replayed range ``[low, high]``: one value when both ends agree."""
    low, high = (fmt.format(v) for v in pair)
    return low if low == high else f"{low}..{high}"


templates.env.filters["when"] = _when
templates.env.filters["span"] = _span
templates.env.filters["seconds"] = _seconds
templates.env.filters["percent"] = _percent


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A full page (or fragment) from template `name`."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def problem_page(request: Request, problem: Problem, back: str) -> HTMLResponse:
    """An API refusal shown to a person: status, title, why, and a way back."""
    return page(
        request,
        "message.html",
        status_code=problem.status,
        title=problem.title,
        detail=problem.detail,
        status=problem.status,
        back=back,
        kind="error",
    )


def done_page(request: Request, title: str, detail: str, back: str) -> HTMLResponse:
    """An accepted action: what was recorded, and where to look next."""
    return page(request, "message.html", title=title, detail=detail, back=back, kind="ok")
