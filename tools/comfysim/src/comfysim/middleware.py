"""HTTP behaviour around every handler: aiohttp's plain 500, empty 404s, request-level faults."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from comfysim.faults import prompt_matches

if TYPE_CHECKING:
    from comfysim.backend import SimBackend  # noqa: F401 - the AppKey's type, by name

log = logging.getLogger("comfysim.server")

SERVER_ERROR_TEXT: Final = "500 Internal Server Error\n\nServer got itself in trouble"
"""The body aiohttp gives any request whose handler raised."""

BACKEND: Final = web.AppKey["SimBackend"]("backend")
"""Where handlers find their backend: `request.app[BACKEND]`."""


def server_error() -> web.Response:
    """The HTTP 500 aiohttp answers when a handler raises."""
    return web.Response(status=500, text=SERVER_ERROR_TEXT, content_type="text/plain")


def plain_path(request: web.Request) -> str:
    """The route path without the /api prefix."""
    path = request.path
    return path[4:] if path.startswith("/api/") else path


@web.middleware
async def errors_like_aiohttp(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Uncaught exceptions → text/plain 500; unknown routes → empty 404 (as a v0.33 server)."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.Response(status=404, body=b"", content_type="application/octet-stream")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("Error handling request from %s", request.remote)
        return server_error()


def _reset_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _prompt_of(request: web.Request) -> tuple[str, dict[str, Any]]:
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        body = json.loads(await request.read())
        if isinstance(body, dict) and isinstance(body.get("prompt"), dict):
            return str(body.get("prompt_id", "")), body["prompt"]
    return "", {}


@web.middleware
async def request_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`reset` cuts the connection, `http500` answers aiohttp's 500, on the matching route."""
    backend = request.app[BACKEND]
    path = plain_path(request)
    if path.startswith("/sim/") or path == "/ws":
        return await handler(request)
    for fault in backend.faults.of_kind("reset", "http500"):
        if fault.spec.params.get("path", "/prompt") != path:
            continue
        prompt_id, prompt = await _prompt_of(request)
        if not prompt_matches(fault.spec.match, prompt_id, prompt, backend.catalogue.model_values):
            continue
        backend.faults.fire(fault, path=path)
        if fault.spec.kind == "http500":
            log.error("Error handling request from %s", request.remote)
            return server_error()
        _reset_connection(request)
        return web.Response()
    return await handler(request)
