"""The simulator's own control routes: /sim/faults, /sim/crash, /sim/state."""

from __future__ import annotations

from aiohttp import web

from comfysim.middleware import BACKEND
from comfysim.spec import FaultSpec

routes = web.RouteTableDef()


@routes.post("/sim/faults")
async def add_faults(request: web.Request) -> web.Response:
    """Arm one fault (an object) or several (a list); 400 with the reason when one is invalid."""
    try:
        body = await request.json()
        specs = [FaultSpec.from_dict(item) for item in (body if isinstance(body, list) else [body])]
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    backend = request.app[BACKEND]
    for spec in specs:
        backend.inject(spec)
    return web.json_response({"faults": backend.faults.listing()})


@routes.get("/sim/faults")
async def list_faults(request: web.Request) -> web.Response:
    """The armed faults with the times they have left."""
    return web.json_response({"faults": request.app[BACKEND].faults.listing()})


@routes.delete("/sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Disarm every fault."""
    request.app[BACKEND].faults.clear()
    return web.json_response({"faults": []})


@routes.post("/sim/crash")
async def crash(request: web.Request) -> web.Response:
    """Restart the process right after answering; optional {"down_s": s} of refused connections."""
    body = await request.json() if request.can_read_body else {}
    down_s = float(body.get("down_s", 0.0)) if isinstance(body, dict) else 0.0
    request.app[BACKEND].schedule_crash(down_s)
    return web.json_response({"crashing": True, "down_s": down_s})


@routes.get("/sim/state")
async def state(request: web.Request) -> web.Response:
    """Counters and the memory picture, for tests and the demo."""
    return web.json_response(request.app[BACKEND].sim_state())
