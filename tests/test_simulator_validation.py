"""POST /prompt validation and the catalogue endpoints, checked value for value against captures."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from comfysim.contract import load, payload_names
from comfysim.files import png_bytes
from comfysim.pytest_plugin import StartSim
from comfysim.spec import SimBackendSpec
from comfysim.testing import SimSession, wait_history
from comfysim.workflows import tiny, txt2img

SERVER_ERROR = "500 Internal Server Error\n\nServer got itself in trouble"
VALIDATION_CASES = [n for n in payload_names() if n.startswith("02") and "request" in load(n)]


def _normalised(body: dict[str, Any]) -> dict[str, Any]:
    """Drop what is arbitrary on the real server: ids, error order, traceback carets."""
    body = copy.deepcopy(body)
    body.pop("prompt_id", None)
    body.pop("number", None)
    for entry in body.get("node_errors", {}).values():
        entry["errors"].sort(key=lambda e: (e["type"], e["details"]))
        for error in entry["errors"]:
            if "traceback" in error["extra_info"]:
                error["extra_info"]["traceback"] = len(error["extra_info"]["traceback"])
    return body


@pytest.fixture
async def bare(start_sim: StartSim) -> AsyncIterator[httpx.AsyncClient]:
    """A backend with no model files, like the server the 02 captures came from."""
    cluster = await start_sim(SimBackendSpec(id="bare", models={}, step_time_s=0.002))
    async with httpx.AsyncClient(base_url=cluster.urls["bare"]) as http:
        yield http


@pytest.mark.parametrize("name", VALIDATION_CASES)
async def test_validation_reply_equals_the_captured_one(bare: httpx.AsyncClient, name: str) -> None:
    data = load(name)
    reply = await bare.post("/prompt", json=data["request"]["body"])
    assert reply.status_code == data["response"]["status"]
    assert _normalised(reply.json()) == _normalised(data["response"]["body"])


async def test_long_choice_lists_are_summarised(sim_session: SimSession) -> None:
    prompt = txt2img()
    prompt["3"]["inputs"]["sampler_name"] = "no_such_sampler"
    reply = await sim_session.http.post("/prompt", json={"prompt": prompt})
    error = reply.json()["node_errors"]["3"]["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert error["details"].startswith("sampler_name: 'no_such_sampler' not in (list of length ")
    assert error["extra_info"]["input_config"] is None


async def test_model_choices_are_this_backends_files(start_sim: StartSim) -> None:
    spec = SimBackendSpec(
        id="m",
        models={"checkpoints": ["b.safetensors", "a.safetensors"], "clip": ["t5.safetensors"]},
    )
    cluster = await start_sim(spec)
    async with httpx.AsyncClient(base_url=cluster.urls["m"]) as http:
        info = (await http.get("/object_info/CheckpointLoaderSimple")).json()
        assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
            "a.safetensors",
            "b.safetensors",
        ]
        clip = (await http.get("/api/object_info/CLIPLoader")).json()["CLIPLoader"]
        assert clip["input"]["required"]["clip_name"][0] == ["t5.safetensors"]
        assert (await http.get("/models/text_encoders")).json() == ["t5.safetensors"]
        missing = await http.get("/models/not_a_folder")
        assert missing.status_code == 404 and missing.content == b""
        assert (await http.get("/object_info/NoSuchNode")).json() == {}
        reply = await http.post(
            "/prompt", json={"prompt": txt2img(ckpt="sd_xl_base_1.0.safetensors")}
        )
        assert reply.json()["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"


async def test_node_class_selection_and_custom_nodes(start_sim: StartSim) -> None:
    spec = SimBackendSpec(
        id="n", exclude_nodes=["ImageInvert"], extra_nodes=["MyCustomNode", "VHS_VideoCombine"]
    )
    cluster = await start_sim(spec)
    async with httpx.AsyncClient(base_url=cluster.urls["n"]) as http:
        invert = {**tiny(), "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}}
        rejected = (await http.post("/prompt", json={"prompt": invert})).json()
        assert rejected["error"]["type"] == "missing_node_type"
        custom = {
            "1": tiny()["1"],
            "2": {"class_type": "MyCustomNode", "inputs": {"anything": ["1", 0], "strength": 3}},
            "3": {"class_type": "VHS_VideoCombine", "inputs": {"images": ["2", 0]}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        }
        accepted = await http.post("/prompt", json={"prompt": custom})
        assert accepted.status_code == 200 and accepted.json()["node_errors"] == {}
        entry = await wait_history(http, accepted.json()["prompt_id"])
        assert entry["status"]["status_str"] == "success" and entry["prompt"][4] == ["3", "4"]
        assert (await http.get("/object_info/MyCustomNode")).json()["MyCustomNode"]["output"] == [
            "*"
        ]


async def test_counter_moves_on_every_post(sim_session: SimSession) -> None:
    http = sim_session.http
    first = (await http.post("/prompt", json={"prompt": tiny()})).json()["number"]
    await http.post("/prompt", json={"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})
    assert (await http.post("/prompt", json={"prompt": tiny()})).json()["number"] == first + 2
    front = (await http.post("/prompt", json={"prompt": tiny(), "front": True})).json()["number"]
    assert front == -(first + 3)
    explicit = await http.post("/prompt", json={"prompt": tiny(), "number": 5})
    assert explicit.json()["number"] == 5.0 and isinstance(explicit.json()["number"], float)


@pytest.mark.parametrize("body", [b"not json", b"", b'{"prompt": "{}"}', b'{"prompt": [1, 2]}'])
async def test_bodies_comfyui_crashes_on_give_a_plain_500(
    sim_session: SimSession, body: bytes
) -> None:
    reply = await sim_session.http.post(
        "/prompt", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.text == SERVER_ERROR


async def test_int_inputs_are_truncated_like_int(sim_session: SimSession) -> None:
    prompt = tiny()
    prompt["1"]["inputs"]["width"] = 31.9
    reply, _ = await sim_session.run(prompt)
    entry = await sim_session.history(reply["prompt_id"])
    assert entry["prompt"][2]["1"]["inputs"]["width"] == 31


async def test_uploaded_image_passes_load_image_validation(sim_session: SimSession) -> None:
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "mine.png"}}, "2": tiny()["2"]}
    before = await sim_session.http.post("/prompt", json={"prompt": prompt})
    assert (
        before.json()["node_errors"]["1"]["errors"][0]["details"]
        == "image - Invalid image file: mine.png"
    )
    files = {"image": ("mine.png", png_bytes(8, 8, (9, 9, 9)), "image/png")}
    upload = await sim_session.http.post("/upload/image", files=files)
    assert upload.json() == {"name": "mine.png", "subfolder": "", "type": "input"}
    reply, _ = await sim_session.run(prompt)
    assert reply["node_errors"] == {}


async def test_partial_execution_targets_limit_the_outputs(sim_session: SimSession) -> None:
    prompt = {**tiny(), "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    reply, _ = await sim_session.run(prompt, partial_execution_targets=["3"])
    assert (await sim_session.history(reply["prompt_id"]))["prompt"][4] == ["3"]


async def test_info_endpoints_answer_under_both_prefixes(sim_session: SimSession) -> None:
    for path in ("/system_stats", "/api/system_stats", "/features", "/api/queue", "/api/prompt"):
        assert (await sim_session.http.get(path)).status_code == 200
    stats = (await sim_session.http.get("/system_stats")).json()
    device = stats["devices"][0]
    assert device["name"] == "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync"
    assert device["vram_total"] == 24 * 2**30 and stats["system"]["comfyui_version"] == "0.33.0"
    unknown = await sim_session.http.get("/health")
    assert unknown.status_code == 404 and unknown.content == b""
    jobs = await sim_session.http.get("/api/jobs", params={"status": "bogus"})
    assert jobs.status_code == 400 and jobs.json()["error"].startswith(
        "Invalid status value(s): bogus."
    )
