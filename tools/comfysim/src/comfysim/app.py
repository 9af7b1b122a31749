"""The aiohttp application of one simulated backend: every route, also under /api."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from comfysim import routes_info, routes_jobs, routes_prompt, routes_sim
from comfysim.middleware import BACKEND, errors_like_aiohttp, request_faults

if TYPE_CHECKING:
    from comfysim.backend import SimBackend

MAX_UPLOAD_SIZE: Final = 104857600


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws: served by the current process's socket hub."""
    proc = request.app[BACKEND].proc
    return await proc.hub.handle(request, proc.greeting)


def build_app(backend: SimBackend) -> web.Application:
    """The application: ComfyUI's routes twice (plain and /api), the /sim control routes once."""
    app = web.Application(
        middlewares=[errors_like_aiohttp, request_faults], client_max_size=MAX_UPLOAD_SIZE
    )
    app[BACKEND] = backend
    for table in (routes_prompt.routes, routes_info.routes, routes_jobs.routes):
        for route in table:
            assert isinstance(route, web.RouteDef)
            app.router.add_route(route.method, route.path, route.handler)
            app.router.add_route(route.method, "/api" + route.path, route.handler)
    for route in routes_sim.routes:
        assert isinstance(route, web.RouteDef)
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/api/ws", websocket)
    return app
