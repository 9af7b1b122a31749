"""Submitting and managing prompts: /prompt, /queue, /interrupt, /free, /history."""

from __future__ import annotations

import copy
import logging
import uuid
from typing import Any, Final

from aiohttp import web

from comfysim import validation_errors as err
from comfysim.job_channel import now_ms
from comfysim.middleware import BACKEND
from comfysim.prompt_queue import PromptQueue, QueueItem

log = logging.getLogger("comfysim.server")
routes = web.RouteTableDef()

SENSITIVE_KEYS: Final = ("auth_token_comfy_org", "api_key_comfy_org")


def is_canonical_uuid(value: Any) -> bool:
    """Whether a value is a UUID in canonical lowercase hyphenated form."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _number(body: Any, queue: PromptQueue) -> int | float:
    if isinstance(body, dict) and "number" in body:
        return float(body["number"])
    front = isinstance(body, dict) and bool(body.get("front"))
    return queue.next_number(front)


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    """Validate synchronously, queue, reply with prompt_id, number and node_errors."""
    backend = request.app[BACKEND]
    log.info("got prompt")
    body = await request.json()
    proc = backend.proc
    number = _number(body, proc.queue)
    if not isinstance(body, dict) or "prompt" not in body:
        return web.json_response({"error": err.no_prompt(), "node_errors": {}}, status=400)
    prompt_id = body.get("prompt_id")
    if prompt_id is None:
        prompt_id = str(uuid.uuid4())
    elif not is_canonical_uuid(prompt_id):
        return web.json_response({"error": err.invalid_prompt_id(), "node_errors": {}}, status=400)
    prompt = copy.deepcopy(body["prompt"])
    verdict = backend.validate(prompt_id, prompt, body.get("partial_execution_targets"))
    if not verdict.ok:
        log.warning("invalid prompt: %s", verdict.error)
        return web.json_response(
            {"error": verdict.error, "node_errors": verdict.node_errors}, status=400
        )
    extra_data = dict(body.get("extra_data") or {})
    if "client_id" in body:
        extra_data["client_id"] = body["client_id"]
    sensitive = {key: extra_data.pop(key) for key in SENSITIVE_KEYS if key in extra_data}
    extra_data["create_time"] = now_ms()
    proc.queue.put(QueueItem(number, prompt_id, prompt, extra_data, verdict.outputs, sensitive))
    backend.accepted += 1
    proc.broadcast_status()
    return web.json_response(
        {"prompt_id": prompt_id, "number": number, "node_errors": verdict.node_errors}
    )


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    """{"exec_info": {"queue_remaining": N}}."""
    return web.json_response(request.app[BACKEND].proc.status_data()["status"])


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    """The running item and the pending ones in heap order."""
    queue = request.app[BACKEND].proc.queue
    running = [queue.running.as_list()] if queue.running is not None else []
    return web.json_response(
        {"queue_running": running, "queue_pending": [item.as_list() for item in queue.pending()]}
    )


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    """{"clear": true} and/or {"delete": [ids]} on pending items; always an empty 200."""
    body = await request.json()
    proc = request.app[BACKEND].proc
    if body.get("clear"):
        proc.queue.clear()
        proc.broadcast_status()
    for prompt_id in body.get("delete", []):
        if proc.queue.delete(prompt_id):
            proc.broadcast_status()
    return web.Response()


@routes.post("/interrupt")
async def post_interrupt(request: web.Request) -> web.Response:
    """Targeted (only if that prompt is running) or global interrupt; always an empty 200."""
    try:
        body = await request.json()
    except ValueError:
        body = {}
    prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
    request.app[BACKEND].interrupt(prompt_id or None, via="/interrupt")
    return web.Response()


@routes.post("/free")
async def post_free(request: web.Request) -> web.Response:
    """Ask the worker to unload models and/or drop the node cache; empty 200."""
    body = await request.json()
    request.app[BACKEND].request_free(
        bool(body.get("unload_models")), bool(body.get("free_memory"))
    )
    return web.Response()


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    """History entries, with max_items/offset (non-int values give a 500, as on the real server)."""
    query = request.rel_url.query
    max_items = int(query["max_items"]) if "max_items" in query else None
    offset = int(query["offset"]) if "offset" in query else -1
    queue = request.app[BACKEND].proc.queue
    return web.json_response(queue.get_history(max_items, offset))


@routes.get("/history/{prompt_id}")
async def get_history_entry(request: web.Request) -> web.Response:
    """{prompt_id: entry} once finished; {} while pending, running or unknown."""
    prompt_id = request.match_info["prompt_id"]
    entry = request.app[BACKEND].proc.queue.history.get(prompt_id)
    return web.json_response({prompt_id: entry} if entry is not None else {})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    """{"clear": true} and/or {"delete": [ids]}; empty 200."""
    body = await request.json()
    history = request.app[BACKEND].proc.queue.history
    if body.get("clear"):
        history.clear()
    for prompt_id in body.get("delete", []):
        history.pop(prompt_id, None)
    return web.Response()
