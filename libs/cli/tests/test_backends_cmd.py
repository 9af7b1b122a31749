"""``comfy-recovery backends`` shows health, breaker, quarantine, queue and VRAM from the
KV registry, written as the monitor and recovery write it (real nats-server)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import msgspec
import pytest

from comfy_recovery.backends_cmd import read_backends, render
from contracts import BusSettings, utcnow
from contracts import subjects as subj
from contracts.backend import BackendHealth, BackendInventory
from contracts.envelope import CONTROL_JOB_ID
from cr_client import Bus
from libs.cli.tests.clirun import run_cli
from recovery import breaker as breakers

pytestmark = pytest.mark.integration
GIB = 2**30
CFG = breakers.BreakerConfig(quarantine_s=30)


async def test_backends_show_health_queue_vram_and_why_a_breaker_is_open(
    bus: Bus, bus_settings: BusSettings
) -> None:
    kv = await bus.kv(subj.KV_BACKENDS)
    for ident, reachable in (("gpu-a", True), ("gpu-b", False), ("gpu-c", True)):
        health = BackendHealth(
            event_id=f"h-{ident}",
            job_id=CONTROL_JOB_ID,
            occurred_at=utcnow(),
            source="t",
            backend_id=ident,
            reachable=reachable,
            queue_running=1,
            queue_pending=2,
            vram_total=24 * GIB,
            vram_free=12 * GIB,
            error=None if reachable else "connection refused",
        )
        await kv.put(f"{ident}.health", msgspec.json.encode(health))
    inventory = BackendInventory(
        event_id="i-a",
        job_id=CONTROL_JOB_ID,
        occurred_at=utcnow(),
        source="t",
        backend_id="gpu-a",
        node_classes=["KSampler"],
        device_name="NVIDIA RTX 4090",
    )
    await kv.put("gpu-a.inventory", msgspec.json.encode(inventory))
    now = time.time()
    quarantined = breakers.quarantine(breakers.Breaker("gpu-a"), "q", now, "GPU_FAULT", CFG)
    await kv.put("gpu-a.breaker", msgspec.json.encode(quarantined))
    probing = breakers.quarantine(breakers.Breaker("gpu-c"), "q2", now - 100, "wedged", CFG)
    await kv.put("gpu-c.breaker", msgspec.json.encode(probing))

    rows = await read_backends(bus, now=now + 10)
    a, b, c = rows
    assert (a.id, a.breaker, a.breaker_reason, a.queue) == ("gpu-a", "open", "GPU_FAULT", 3)
    until = datetime.fromtimestamp(now + 30, UTC).isoformat()
    assert a.open_until == until
    assert a.device == "NVIDIA RTX 4090" and a.vram_free == 12 * GIB and not a.takes_work
    assert b.reachable is False and b.error == "connection refused" and not b.takes_work
    assert c.breaker == "half_open" and c.takes_work  # its open time is up: one probe may go
    text = render(rows)
    assert "why: GPU_FAULT" in text and "unreachable" in text and "1 of 3" in text

    out = await run_cli(bus_settings.url, "backends", "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [r["id"] for r in listed] == ["gpu-a", "gpu-b", "gpu-c"]
    assert listed[0]["breaker"] == "open" and listed[0]["takes_work"] is False


def test_no_backend_yet_is_said_plainly() -> None:
    assert render([]) == "no backend has reported yet"
