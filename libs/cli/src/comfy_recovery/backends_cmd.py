"""``comfy-recovery backends``: every backend as the system sees it, from the KV registry.

Health and queue (the monitor's last probe), VRAM, and the breaker recovery keeps — the
one source of truth for whether a backend takes work: closed, open (quarantined or
failing: why, and until when) or half-open (one probe dispatch may go).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from nats.js.errors import NoKeysError

from contracts import subjects
from cr_client.bus import Bus

GIB = 2**30


@dataclass
class BackendRow:
    """One backend: health, queue, VRAM and breaker."""

    id: str
    reachable: bool | None = None
    queue: int | None = None
    vram_free: int | None = None
    vram_total: int | None = None
    comfyui_version: str | None = None
    device: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    breaker: str = "closed"
    breaker_reason: str = ""
    open_until: str | None = None
    failed_probes: int = 0
    window: dict[str, int] = field(default_factory=dict)

    @property
    def takes_work(self) -> bool:
        """Reachable (or not yet probed) and breaker not open."""
        return self.reachable is not False and self.breaker != "open"


def add_parser(sub: Any) -> None:
    """Register the subcommand on the CLI's subparsers."""
    c = sub.add_parser("backends", help="backends: health, breaker, quarantine, queue, VRAM")
    c.add_argument("--json", action="store_true")


async def read_backends(bus: Bus, now: float | None = None) -> list[BackendRow]:
    """Every backend in the registry, by id; breakers evaluated at `now` (epoch seconds)."""
    kv = await bus.kv(subjects.KV_BACKENDS)
    try:
        keys = await kv.keys()
    except NoKeysError:
        return []
    records: dict[str, dict[str, dict[str, Any]]] = {}
    for key in keys:
        backend_id, _, kind = key.rpartition(".")
        entry = await kv.get(key)
        if backend_id and entry.value:
            try:
                value = msgspec.json.decode(entry.value)
            except msgspec.DecodeError:
                continue
            if isinstance(value, dict):
                records.setdefault(backend_id, {})[kind] = value
    at = time.time() if now is None else now
    return [row_of(ident, parts, at) for ident, parts in sorted(records.items())]


def row_of(backend_id: str, parts: dict[str, dict[str, Any]], now: float) -> BackendRow:
    """One row from a backend's ``health``, ``inventory`` and ``breaker`` records."""
    health, inventory, breaker = (parts.get(k, {}) for k in ("health", "inventory", "breaker"))
    row = BackendRow(backend_id)
    if health:
        row.reachable = bool(health.get("reachable"))
        row.queue = int(health.get("queue_running", 0)) + int(health.get("queue_pending", 0))
        row.vram_free = health.get("vram_free")
        row.latency_ms = health.get("latency_ms")
        row.error = health.get("error")
    row.vram_total = health.get("vram_total") or inventory.get("vram_total")
    row.comfyui_version = health.get("comfyui_version") or inventory.get("comfyui_version")
    row.device = inventory.get("device_name") or health.get("device_type")
    state, until = str(breaker.get("state", "closed")), breaker.get("open_until")
    if state == "open" and isinstance(until, int | float) and now >= until:
        state = "half_open"  # its open time is up: the next dispatch is the probe
    row.breaker, row.breaker_reason = state, str(breaker.get("reason", ""))
    if state == "open" and isinstance(until, int | float):
        row.open_until = datetime.fromtimestamp(until, UTC).isoformat()
    row.failed_probes = int(breaker.get("reopens", 0))
    calls = [c for c in breaker.get("calls", []) if isinstance(c, list) and len(c) == 3]
    row.window = {"calls": len(calls), "failed": sum(1 for c in calls if c[2] != "ok")}
    return row


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / GIB:.1f}"


def render(rows: list[BackendRow]) -> str:
    """A human table, one line per backend, then why each open breaker is open."""
    if not rows:
        return "no backend has reported yet"
    lines = [f"{'BACKEND':<12} {'HEALTH':<11} {'QUEUE':>5} {'VRAM GiB':>11}  BREAKER"]
    for r in rows:
        health = {True: "up", False: "unreachable", None: "unknown"}[r.reachable]
        vram = f"{_gib(r.vram_free)}/{_gib(r.vram_total)}"
        queue = "?" if r.queue is None else str(r.queue)
        breaker = r.breaker
        if r.window.get("calls"):
            breaker += f" ({r.window['failed']}/{r.window['calls']} failed)"
        if r.open_until:
            breaker += f" until {r.open_until[11:19]}Z"
        lines.append(f"{r.id:<12} {health:<11} {queue:>5} {vram:>11}  {breaker}")
        if r.breaker != "closed" and r.breaker_reason:
            lines.append(f"{'':<12} why: {r.breaker_reason}")
        if r.reachable is False and r.error:
            lines.append(f"{'':<12} error: {r.error}")
    usable = sum(1 for r in rows if r.takes_work)
    lines.append(f"{usable} of {len(rows)} backend(s) take work")
    return "\n".join(lines)


async def cmd_backends(args: argparse.Namespace) -> int:
    """Print the backends (``--json``: a JSON list on stdout only)."""
    from comfy_recovery.connection import connect  # the CLI's one way to reach NATS

    async with await connect() as client:
        rows = await read_backends(client.bus)
    if args.json:
        print(json.dumps([{**asdict(r), "takes_work": r.takes_work} for r in rows]))
    else:
        print(render(rows))
    return 0
