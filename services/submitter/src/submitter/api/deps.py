"""What the API handlers use: the job client (bus), the backend registry, auth."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import msgspec
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nats.js.errors import KeyNotFoundError, NoKeysError

from contracts import JobView, RecoveryPolicy, subjects
from contracts.envelope import utcnow
from contracts.errors import JobNotFoundError
from contracts.readmodel import TERMINAL, decode_view
from cr_client import JobClient
from submitter.adapters.registry import Registry
from submitter.api.problems import Problem
from submitter.api.schemas import PolicyBody


@dataclass
class ApiDeps:
    """Shared by every request."""

    client: JobClient
    registry: Registry
    tokens: frozenset[str]
    open_health: bool

    async def view(self, job_id: str) -> JobView:
        """The job's read model, or a 404 problem."""
        try:
            return await self.client.status(job_id)
        except JobNotFoundError as exc:
            raise Problem(404, "Job not found", f"no job {job_id}") from exc

    async def views(self) -> list[JobView]:
        """Every job in the read model."""
        kv = await self.client.bus.kv(subjects.KV_JOBS)
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        found = []
        for key in keys:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                continue
            if entry.value:
                found.append(decode_view(entry.value))
        return found

    async def cleanup(self, hours: float) -> int:
        """Drop the read models of jobs that ended more than `hours` ago (events stay)."""
        cutoff = utcnow() - timedelta(hours=min(hours, 24 * 365 * 100))
        kv = await self.client.bus.kv(subjects.KV_JOBS)
        deleted = 0
        for view in await self.views():
            ended = view.finished_at or view.updated_at
            if view.status in TERMINAL and ended is not None and ended < cutoff:
                await kv.purge(view.job_id)
                deleted += 1
        return deleted


def deps_of(request: Request) -> ApiDeps:
    """The app's dependencies."""
    deps: ApiDeps = request.app.state.deps
    return deps


Deps = Annotated[ApiDeps, Depends(deps_of)]


BEARER = HTTPBearer(auto_error=False, description="one of CR_SUBMITTER_API_TOKENS")
"""Declares the bearer scheme in OpenAPI; the check itself is `check_token`."""


def check_token(request: Request) -> None:
    """Bearer-token check (a no-op when no tokens are configured).

    Compares bytes: a header may hold any byte (Starlette decodes it as latin-1), and
    comparing such a str with `secrets.compare_digest` raises instead of refusing.

    Raises:
        Problem: 401 with ``WWW-Authenticate: Bearer``.
    """
    deps = deps_of(request)
    if not deps.tokens:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    given = token.encode("latin-1", errors="replace")
    known = (t.encode() for t in deps.tokens)
    if scheme.lower() != "bearer" or not any(secrets.compare_digest(given, t) for t in known):
        raise Problem(
            401,
            "Unauthorized",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="comfy-recovery"'},
        )


def authorize(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
) -> None:
    """The route dependency: `check_token`, declared as bearer security in OpenAPI."""
    check_token(request)


def policy_of(body: PolicyBody | None) -> RecoveryPolicy | None:
    """A contracts policy from the HTTP body (unset fields keep their defaults)."""
    if body is None:
        return None
    fields: dict[str, Any] = body.model_dump(exclude_none=True)
    try:
        return msgspec.convert(fields, RecoveryPolicy)
    except msgspec.ValidationError as exc:
        raise Problem(422, "Invalid policy", str(exc)) from exc
