"""The health endpoint of a service: /healthz, /readyz and /metrics over plain HTTP/1.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cr_client.bus import Bus
from cr_runtime.consumer import Consumer

ReadyCheck = Callable[[], Awaitable[bool]]


async def start_health_server(
    bus: Bus, consumers: Sequence[Consumer], ready_checks: Sequence[ReadyCheck], port: int
) -> asyncio.AbstractServer:
    """/healthz (alive), /readyz (NATS connected, consumers running, checks pass), /metrics."""

    async def ready() -> bool:
        if not bus.nc.is_connected:
            return False
        if any(not c.running for c in consumers):
            return False
        for check in ready_checks:
            if not await check():
                return False
        return True

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "/"
            status, ctype, body = await _route(path.split("?")[0], ready)
            head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}"
            writer.write(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "0.0.0.0", port)


async def _route(path: str, ready: Callable[[], Awaitable[bool]]) -> tuple[str, str, bytes]:
    if path == "/healthz":
        return "200 OK", "text/plain", b"ok\n"
    if path == "/readyz":
        ok = await ready()
        return (
            ("200 OK" if ok else "503 Service Unavailable"),
            "text/plain",
            (b"ready\n" if ok else b"not ready\n"),
        )
    if path == "/metrics":
        return "200 OK", CONTENT_TYPE_LATEST, generate_latest()
    return "404 Not Found", "text/plain", b"not found\n"
