"""Rule families of the third rule pass (after heldout3's "before" measurement), each checked on
messages written here from the generators' templates (library, ComfyUI and client sources), not
from corpus lines, next to the neighbours that must keep their class."""

from __future__ import annotations

import pytest

from classifier.engine import classify
from contracts.taxonomy import FailureClass as C

CASES = [
    # Node's dns error 'getaddrinfo ENOTFOUND <host>' is a connection failure; the letters
    # inside 'FileNotFoundError' are not
    ("client", "Error: getaddrinfo ENOTFOUND comfy.internal", C.BACKEND_UNREACHABLE),
    (
        "log",
        "FileNotFoundError: [Errno 2] No such file or directory: '/srv/comfy/temp/part_7.png'",
        C.NODE_EXECUTION_ERROR,
    ),
    # torch/csrc/serialization.cpp doRead
    (
        "log",
        "RuntimeError: unexpected EOF, expected 81920 more bytes. The file might be corrupted.",
        C.MODEL_CORRUPT,
    ),
    # ComfyUI-GGUF loader.py gguf_sd_loader
    (
        "log",
        "ValueError: Unexpected architecture type in GGUF file: 'hunyuan3d'",
        C.MODEL_INCOMPATIBLE,
    ),
    ("log", "Unexpected text model architecture type in GGUF file: 'gemma3'", C.MODEL_INCOMPATIBLE),
    # an exception unwinding main.py's prompt_worker thread
    (
        "log",
        'Traceback (most recent call last):\n  File "/opt/comfy/main.py", line 201, in'
        " prompt_worker\n    e.execute(item[2], prompt_id, extra_data, item[4])\nRuntimeError: x",
        C.BACKEND_WEDGED,
    ),
    # validate_prompt given a prompt that is not {id: {class_type, inputs}}, next to an unknown node
    (
        "log",
        '  File "/opt/comfy/execution.py", line 600, in validate_prompt\n    class_ ='
        " nodes.NODE_CLASS_MAPPINGS[prompt[x]['class_type']]\nTypeError: list indices must be"
        " integers or slices, not str",
        C.INVALID_WORKFLOW,
    ),
    (
        "log",
        '  File "/opt/comfy/execution.py", line 600, in validate_prompt\n    class_ ='
        " nodes.NODE_CLASS_MAPPINGS[prompt[x]['class_type']]\nKeyError: 'SomePackNode'",
        C.NODE_MISSING,
    ),
    # Krita AI Diffusion connection.py: MissingResource(kind) / MissingResources
    (
        "client",
        "Connection established, but the server is missing one or more checkpoints.",
        C.MODEL_MISSING,
    ),
    (
        "client",
        "Connection established, but the server is missing required custom nodes or models.",
        C.NODE_MISSING,
    ),
    # SillyTavern's ComfyUI endpoint, as its ports throw it
    ("client", "Error: ComfyUI did not return any recognizable outputs", C.OUTPUT_MISSING),
    # openai-python _make_status_error_from_response
    ("client", "Error code: 403 - {'detail': 'Forbidden'}", C.PERMISSION_DENIED),
    # Squid ERR_* templates and the openai SDK's retry log
    (
        "log",
        "The following error was encountered while trying to retrieve the URL:"
        " http://api.example.com/v1/images",
        C.EXTERNAL_SERVICE_ERROR,
    ),
    (
        "log",
        "INFO:openai._base_client:Retrying request to /images/generations in 0.912000 seconds",
        C.EXTERNAL_SERVICE_ERROR,
    ),
    # readiness as SwarmUI's BackendHandler and RunPod worker templates word it
    (
        "client",
        "Error #3 while initializing backend #0 - ComfyUI API By URL - will retry",
        C.BACKEND_UNREACHABLE,
    ),
    ("client", "ComfyUI server not ready yet, retrying in 2s", C.BACKEND_UNREACHABLE),
    # VideoHelperSuite's ProcessLookupError, a pack's own import check, ffmpeg's encoder lookup
    (
        "execution_error",
        "ffmpeg is required for video outputs and could not be found.",
        C.DEPENDENCY_MISSING,
    ),
    ("log", "Exception: Please install onnxruntime to use this node.", C.DEPENDENCY_MISSING),
    (
        "execution_error",
        # VideoHelperSuite's own wording, typo included
        "An error occured in the ffmpeg subprocess:"  # codespell:ignore occured
        "\nUnknown encoder 'libsvtav1'",
        C.DEPENDENCY_MISSING,
    ),
    # a bare EPIPE in a node is its child process; a socket EPIPE comes wrapped by the HTTP client
    ("execution_error", "[Errno 32] Broken pipe", C.NODE_EXECUTION_ERROR),
    (
        "execution_error",
        "('Connection aborted.', BrokenPipeError(32, 'Broken pipe'))",
        C.EXTERNAL_SERVICE_ERROR,
    ),
]


@pytest.mark.parametrize(("surface", "message", "expected"), CASES)
def test_family(surface: str, message: str, expected: C) -> None:
    verdict = classify({"surface": surface, "message": message, "node_type": ""})
    assert verdict.failure_class == expected, verdict.rule


@pytest.mark.parametrize(
    ("node_type", "expected"),
    [("LoadImage", C.INPUT_MISSING), ("CheckpointLoaderSimple", C.NODE_EXECUTION_ERROR)],
)
def test_a_loader_of_inputs_that_cannot_find_its_file_is_an_input_missing(
    node_type: str, expected: C
) -> None:
    """Only input loaders: a model loader's missing path is not an input of the job."""
    evidence = {
        "surface": "execution_error",
        "node_type": node_type,
        "message": "Path '/data/in/batch_04' does not exist",
    }
    assert classify(evidence).failure_class == expected
