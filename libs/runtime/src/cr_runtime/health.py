"""The health endpoint of a service: /healthz, /readyz and /metrics, an aiohttp app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cr_client.bus import Bus
from cr_runtime.consumer import Consumer

ReadyCheck = Callable[[], Awaitable[bool]]
SHUTDOWN_S = 1.0
"""How long a stopping service waits for a health request in flight."""


def readiness(
    bus: Bus, consumers: Sequence[Consumer], ready_checks: Sequence[ReadyCheck]
) -> ReadyCheck:
    """Ready: NATS connected, every consumer running, every check passing (in that order;
    the first that fails answers)."""

    async def ready() -> bool:
        if not bus.nc.is_connected or any(not c.running for c in consumers):
            return False
        for check in ready_checks:
            if not await check():
                return False
        return True

    return ready


def health_app(ready: ReadyCheck) -> web.Application:
    """/healthz (alive), /readyz (200 or 503 by `ready`), /metrics (Prometheus); any method,
    any query string; every other path 404."""

    def text(status: int, body: bytes) -> web.Response:
        return web.Response(status=status, body=body, content_type="text/plain")

    async def healthz(_: web.Request) -> web.Response:
        return text(200, b"ok\n")

    async def readyz(_: web.Request) -> web.Response:
        return text(200, b"ready\n") if await ready() else text(503, b"not ready\n")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def missing(_: web.Request) -> web.Response:
        return text(404, b"not found\n")

    app = web.Application()
    app.router.add_route("*", "/healthz", healthz)
    app.router.add_route("*", "/readyz", readyz)
    app.router.add_route("*", "/metrics", metrics)
    app.router.add_route("*", "/{path:.*}", missing)
    return app


async def start_health_server(
    app: web.Application, port: int, host: str = "0.0.0.0"
) -> web.AppRunner:
    """Serve `app` on `host:port` until the returned runner's ``cleanup()`` (no access log;
    a request still in flight then gets `SHUTDOWN_S`, not aiohttp's default minute)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
