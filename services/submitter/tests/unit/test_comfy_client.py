"""The ComfyUI client lets no httpx exception out: transport failures and unexpected
replies become our errors, which the dispatcher turns into evidence."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from contracts.backends import BackendRef
from submitter.adapters.comfy import ComfyClient
from submitter.config import Settings
from submitter.errors import ComfyReplyError, ComfyUnreachableError

REF = BackendRef("b0", "http://comfy:8188")
PLAIN_500 = "500 Internal Server Error\n\nServer got itself in trouble"


def client(answer: Callable[[httpx.Request], httpx.Response]) -> ComfyClient:
    return ComfyClient(REF, httpx.AsyncClient(transport=httpx.MockTransport(answer)))


def routes(**replies: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        return replies[request.url.path.strip("/").split("/")[0]]

    return answer


async def test_a_prompt_in_history_or_queue_counts_as_posted() -> None:
    item = [1, "p", {}, {}, []]
    in_queue = client(
        routes(
            history=httpx.Response(200, json={}),
            queue=httpx.Response(200, json={"queue_running": [item], "queue_pending": []}),
        )
    )
    assert await in_queue.has_prompt("p") and not await in_queue.has_prompt("other")
    in_history = client(routes(history=httpx.Response(200, json={"p": {"status": {}}})))
    assert await in_history.has_prompt("p")


@pytest.mark.parametrize(
    "replies",
    [
        {"history": httpx.Response(500, text=PLAIN_500)},
        {"history": httpx.Response(200, text="<html>a proxy page</html>")},
        {
            "history": httpx.Response(200, json={}),
            "queue": httpx.Response(500, text=PLAIN_500),
        },
        {
            "history": httpx.Response(200, json={}),
            "queue": httpx.Response(200, json={"queue_running": "?", "queue_pending": []}),
        },
    ],
)
async def test_an_unexpected_reply_is_a_reply_error_with_status_and_body(
    replies: dict[str, httpx.Response],
) -> None:
    with pytest.raises(ComfyReplyError) as caught:
        await client(routes(**replies)).has_prompt("p")
    assert caught.value.status in (200, 500) and caught.value.body


async def test_a_failed_upload_is_a_reply_error() -> None:
    failing = client(routes(upload=httpx.Response(400, text="bad file")))
    with pytest.raises(ComfyReplyError) as caught:
        await failing.upload_image("a.png", "aGVsbG8=", "")
    assert (caught.value.status, caught.value.body) == (400, "bad file")


async def test_a_transport_failure_is_unreachable_with_the_httpx_class() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    with pytest.raises(ComfyUnreachableError) as caught:
        await client(reset).post_prompt({"prompt": {}})
    assert caught.value.exception_type == "httpx.RemoteProtocolError"


def test_backends_can_be_given_by_keyword_as_well_as_by_environment() -> None:
    settings = Settings(comfyui_urls="b0=http://comfy:8188")
    assert settings.comfyui_urls == "b0=http://comfy:8188"
