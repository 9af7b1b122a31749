"""ComfyUI replies that are not what the API promises become BackendDownError, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from contracts.backends import BackendRef
from monitor.adapters.comfy import ComfyReader
from monitor.config import Settings
from monitor.errors import BackendDownError
from monitor.translate import parse_frame, queue_remaining

REF = BackendRef("b0", "http://comfy:8188")


def reader(answer: Callable[[httpx.Request], httpx.Response]) -> ComfyReader:
    return ComfyReader(REF, httpx.AsyncClient(transport=httpx.MockTransport(answer)))


def item(prompt_id: str, graph: dict[str, Any]) -> list[Any]:
    return [0, prompt_id, graph, {}, []]


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(500, text="500 Internal Server Error\n\nServer got itself in trouble"),
        httpx.Response(200, text="<html>proxy</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"queue_running": None, "queue_pending": []}),
    ],
)
async def test_a_queue_reply_that_is_not_a_queue_is_a_backend_error(reply: httpx.Response) -> None:
    with pytest.raises(BackendDownError):
        await reader(lambda _: reply).queue()


async def test_a_transport_failure_is_a_backend_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(BackendDownError):
        await reader(refuse).history("p")


async def test_the_class_of_the_node_a_running_prompt_is_at() -> None:
    graph = {"3": {"class_type": "KSampler", "inputs": {}}}
    body = {"queue_running": [item("p", graph)], "queue_pending": [item("q", graph)]}
    read = reader(lambda _: httpx.Response(200, json=body))
    assert await read.running_class("p", "3") == "KSampler"
    assert await read.running_class("q", "3") is None
    assert await read.queue() == (["p"], ["q"])


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '"text"', '{"type": "x", "data": [1]}'])
def test_a_websocket_frame_that_is_not_a_message_is_read_as_nothing(frame: str) -> None:
    kind, data = parse_frame(frame)
    assert data == {} and kind in ("", "x")


def test_the_queue_length_of_a_status_message() -> None:
    kind, data = parse_frame(
        '{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}}}'
    )
    assert (kind, queue_remaining(data)) == ("status", 2)
    assert queue_remaining({"status": "?"}) is None


def test_backends_can_be_given_by_keyword_as_well_as_by_environment() -> None:
    settings = Settings(comfyui_urls="b0=http://comfy:8188")
    assert settings.comfyui_urls == "b0=http://comfy:8188"
