"""The submitter (with its HTTP API) running in this process, and a client on its port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx

from submitter.app import run
from submitter.config import Settings


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, token: str, timeout: float
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the submitter with `settings` until the block ends; yield a client with `token`,
    once `/v1/health` answers."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.api_port}",
        timeout=timeout,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                await client.get("/v1/health")
                break
            await asyncio.sleep(0.05)
        yield client
    stop.set()
    await asyncio.wait_for(task, 15)
