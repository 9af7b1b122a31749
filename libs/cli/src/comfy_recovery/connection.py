"""The CLI's one way to find and reach NATS: ``CR_NATS_URL``, else the local stack."""

from __future__ import annotations

import asyncio
import os

from comfy_recovery import stackfile
from comfy_recovery.errors import EXIT_UNAVAILABLE, CliError
from comfy_recovery.stackconfig import data_dir_from_env
from contracts.errors import BusUnavailableError
from contracts.settings import BusSettings
from cr_client import JobClient


def bus_settings() -> BusSettings:
    """``CR_NATS_URL`` if set, else the NATS of a live local stack (``<data>/stack.json``,
    which finds a stack started on moved ports), else the default URL."""
    if not os.environ.get("CR_NATS_URL"):
        running = stackfile.live(data_dir_from_env())
        if running is not None and running.get("nats_url"):
            return BusSettings(url=str(running["nats_url"]))
    return BusSettings()


async def connect() -> JobClient:
    """A client on `bus_settings()`; one clear line when NATS is not there."""
    settings = bus_settings()
    try:
        return await asyncio.wait_for(JobClient.connect(settings, source="cli"), 10)
    except (BusUnavailableError, TimeoutError) as exc:
        raise CliError(
            f"cannot reach NATS at {settings.url} (start the stack with `make run`)",
            EXIT_UNAVAILABLE,
        ) from exc
