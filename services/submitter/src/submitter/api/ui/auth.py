"""Who may use the console: the API's bearer tokens, presented by a browser as a cookie.

A browser cannot add an ``Authorization`` header to a link or an ``EventSource``, so the
console accepts the same tokens (``CR_SUBMITTER_API_TOKENS``) three ways: a bearer header,
the HttpOnly ``SameSite=Strict`` cookie that the login form sets, or ``?token=`` once on any
console URL (the cookie is set and the token dropped from the address). No tokens
configured: the console is open, like the API.
"""

from __future__ import annotations

import secrets
from typing import Final
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse

from submitter.api.deps import deps_of

COOKIE: Final = "cr_console_token"
COOKIE_MAX_AGE_S: Final = 12 * 3600


class LoginRequired(Exception):
    """No valid token: the browser is sent to the login form (then back to `next_url`)."""

    def __init__(self, next_url: str, error: str = "") -> None:
        super().__init__(error or "login required")
        self.next_url = next_url
        self.error = error


class TokenAccepted(Exception):
    """A valid ``?token=``: set the cookie and send the browser to `url` without it."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__("token accepted")
        self.url = url
        self.token = token


def valid(request: Request, token: str) -> bool:
    """Whether `token` is one of the API's tokens (compared as bytes, in constant time)."""
    given = token.encode("latin-1", errors="replace")
    return any(secrets.compare_digest(given, t.encode()) for t in deps_of(request).tokens)


def presented(request: Request) -> str:
    """The token the request carries: bearer header first, then the console cookie."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    return request.cookies.get(COOKIE, "")


def require_login(request: Request) -> None:
    """The console's route dependency.

    Raises:
        TokenAccepted: a valid ``?token=`` (the cookie is set by the handler).
        LoginRequired: no valid token anywhere.
    """
    if not deps_of(request).tokens:
        return
    query = request.query_params.get("token")
    if query is not None:
        if not valid(request, query):
            raise LoginRequired(_without_token(request), "that token is not valid")
        raise TokenAccepted(_without_token(request), query)
    if not valid(request, presented(request)):
        raise LoginRequired(_relative(request))


def _relative(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _without_token(request: Request) -> str:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    return request.url.path + (f"?{urlencode(pairs)}" if pairs else "")


def safe_next(url: str) -> str:
    """A local console URL to go back to after login (anything else: the jobs page)."""
    return url if url.startswith("/ui") and not url.startswith("//") else "/ui/jobs"


def with_cookie(response: RedirectResponse, request: Request, token: str) -> RedirectResponse:
    """Set the console cookie on `response` (HttpOnly, SameSite=Strict, Secure over https)."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return response


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (last value wins)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
