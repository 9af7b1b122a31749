"""Rule families added from the generators of the text (issue 13's second pass), each checked on
messages written here from the generators' wording (not corpus lines), with their neighbours
that must keep their class."""

from __future__ import annotations

import pytest

from classifier.engine import classify
from contracts.taxonomy import FailureClass as C

CASES = [
    # urllib3's MaxRetryError names the path: ComfyUI serves /prompt, /history, /ws, ... (also
    # under /api/); any other path is a node's call to another service
    (
        "client",
        "HTTPConnectionPool(host='10.0.0.7', port=5000): Max retries exceeded with url:"
        " /v1/chat/completions (Caused by NewConnectionError('<urllib3.connection.HTTPConnection"
        " object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))",
        C.EXTERNAL_SERVICE_ERROR,
    ),
    (
        "client",
        "HTTPConnectionPool(host='10.0.0.7', port=8188): Max retries exceeded with url:"
        " /api/prompt (Caused by NewConnectionError('<urllib3.connection.HTTPConnection"
        " object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))",
        C.BACKEND_UNREACHABLE,
    ),
    (  # an extension's route on ComfyUI's default port: still our connection to ComfyUI
        "client",
        "HTTPConnectionPool(host='127.0.0.1', port=8188): Max retries exceeded with url:"
        " /some_pack/status (Caused by NewConnectionError('<urllib3.connection.HTTPConnection"
        " object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))",
        C.BACKEND_UNREACHABLE,
    ),
    (
        "log",
        "aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host 10.1.2.3:8188"
        " ssl:default [Connect call failed ('10.1.2.3', 8188)] while opening http://10.1.2.3:8188/ws",
        C.BACKEND_UNREACHABLE,
    ),
    (
        "client",
        "httpx.ConnectTimeout: timed out connecting to http://192.168.1.20:9000/generate",
        C.EXTERNAL_SERVICE_ERROR,
    ),
    (  # anyio's wording under httpx, to a path ComfyUI does not serve
        "client",
        "httpx.ConnectError: All connection attempts failed (http://10.0.0.5:9000/v1/generate)",
        C.EXTERNAL_SERVICE_ERROR,
    ),
    (  # the front end's own static files are served by ComfyUI
        "client",
        "GET http://10.0.0.5:8000/assets/index-abc.js net::ERR_CONNECTION_REFUSED",
        C.BACKEND_UNREACHABLE,
    ),
    # a folder name used as a module name: not a package to install
    ("log", "ModuleNotFoundError: No module named 'ComfyUI-Foo-Nodes'", C.NODE_EXECUTION_ERROR),
    ("log", "ModuleNotFoundError: No module named 'ComfyUI_FooPack'", C.NODE_EXECUTION_ERROR),
    (
        "log",
        "ModuleNotFoundError: No module named 'comfyui_frontend_package'",
        C.DEPENDENCY_MISSING,
    ),
    ("log", "ModuleNotFoundError: No module named 'sageattention'", C.DEPENDENCY_MISSING),
    # CPython's AttributeError on a module: a package of another version
    ("log", "AttributeError: module 'numpy' has no attribute 'float'", C.DEPENDENCY_MISSING),
    ("log", "AttributeError: 'NoneType' object has no attribute 'shape'", C.NODE_EXECUTION_ERROR),
    # CPython's TypeError wordings raised inside a node
    ("log", "'>' not supported between instances of 'NoneType' and 'int'", C.NODE_EXECUTION_ERROR),
    ("log", 'can only concatenate str (not "int") to str', C.NODE_EXECUTION_ERROR),
    ("log", "TypeError: unhashable type: 'list'", C.NODE_EXECUTION_ERROR),
    # server.trigger_on_prompt: an on_prompt handler reading json_data['prompt'] of a bad POST
    (
        "log",
        "[ERROR] An error occurred during the on_prompt_handler processing\n"
        "    prompt = json_data['prompt']\nKeyError: 'prompt'",
        C.INVALID_WORKFLOW,
    ),
    # comfy-cli's own wording of a ComfyUI that is not listening
    ("client", "ComfyUI not running on specified address (127.0.0.1:8188)", C.BACKEND_UNREACHABLE),
    # a success without new output, as a client words it
    ("client", "No new images were generated.", C.OUTPUT_MISSING),
    # HTTP reason phrases a node's own call met (a proxy page in front of a remote API)
    ("execution_error", "502 Bad Gateway: upstream returned an error", C.EXTERNAL_SERVICE_ERROR),
]


@pytest.mark.parametrize(("surface", "message", "expected"), CASES)
def test_family(surface: str, message: str, expected: C) -> None:
    verdict = classify({"surface": surface, "message": message, "node_type": ""})
    assert verdict.failure_class == expected, verdict.rule


@pytest.mark.parametrize("name", ["image", "video", "audio"])
def test_an_upload_input_not_in_its_list_is_an_input_missing(name: str) -> None:
    """LoadImage/LoadVideo/LoadAudio's upload inputs: whatever the file name looks like."""
    body = (
        "Prompt outputs failed validation\nLoadThing:\n"
        f"- Value not in list: {name}: 'my upload (2)' not in ['a', 'b']"
    )
    assert classify({"surface": "client", "message": body}).failure_class == C.INPUT_MISSING


def test_a_load_model_class_makes_a_name_without_extension_a_model() -> None:
    body = (
        "Prompt outputs failed validation\nXY_LoadMotionModel:\n"
        "- Value not in list: model_name: 'motion_v3' not in ['motion_v2.ckpt']"
    )
    assert classify({"surface": "client", "message": body}).failure_class == C.MODEL_MISSING
