"""The API application: routers, problem+json, request size limit, metrics; and its server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from submitter.api import problems, routes, seed, ui
from submitter.api.deps import ApiDeps, check_token


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413), declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise problems.Problem(
                    413,
                    "Request too large",
                    f"bodies over {self.limit} bytes are refused",
                    limit=self.limit,
                )
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, send: Send) -> None:
        body = (
            b'{"type":"about:blank","title":"Request too large","status":413,'
            b'"detail":"bodies over %d bytes are refused","limit":%d}' % (self.limit, self.limit)
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", problems.PROBLEM.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_api(deps: ApiDeps, max_body_bytes: int) -> FastAPI:
    """The FastAPI app (OpenAPI at /docs and /openapi.json).

    One size limit: bodies over the smaller of `max_body_bytes` and the bus's submission
    limit (`contracts.workflow.submission_limit`) get 413 naming it, before anything is read.
    """
    app = FastAPI(
        title="comfy-recovery",
        version="0.1.0",
        description="Automatic failure recovery for ComfyUI jobs.",
    )
    app.state.deps = deps
    problems.install(app)
    app.include_router(routes.router)
    app.include_router(seed.router)
    ui.mount(app)  # the operator console at /ui

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(check_token)])
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    limit = min(max_body_bytes, deps.client.submission_limit)
    app.add_middleware(BodyLimit, limit=limit)
    return app


async def serve_api(app: FastAPI, host: str, port: int) -> None:
    """Run uvicorn inside the submitter's event loop until cancelled."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    await _Server(config).serve()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service shell owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
