"""Contract test: every captured ComfyUI v0.33 exchange, replayed against the simulator.

Each payload file in comfysim/data/payloads/ is a case. Its requests are sent again,
in the captured order and after the same preconditions (the captures were taken in one pass,
so some cases depend on the previous ones: README.md of the payloads explains the order).
Replies must have the captured status, content type, key sets, nesting and value types;
websocket frames must come in the captured order of types, each with the captured shape.

Compared loosely, on purpose:
- values (ids, timestamps, numbers, file names, exception texts) are not compared;
- an empty list on either side has no element shape to compare (the captured server had no
  model files, the simulator has some);
- 05_interrupt, 05b and 06b: where an interrupt lands, and how often a node reports progress
  (ColorTransfer skipped values in 06b), is timing; their frame order is compared without
  later `status` frames and with each run of progress frames counted once.

Not compared at all, listed so that nothing is skipped silently:
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx
import pytest

from comfysim.contract import (
    assert_same_frames,
    assert_same_reply,
    captured_frames,
    load,
    payload_names,
    send,
)
from comfysim.contract_replay import (
    CallHandler,
    Live,
    live,
    replay_calls,
    replay_prompt,
    skip_call,
)
from comfysim.contract_sessions import SESSION_CASES
from comfysim.files import png_bytes
from comfysim.spec import FaultSpec

NOT_COMPARED: Final = {
    "server_log": "the simulator logs through Python logging; log lines are not part of the API",
    "elapsed_ms": "timing",
    "binary frame bytes": "image bytes are not stored in the captures (only sizes and headers)",
    "01_success_followups.json call 2 (/view preview=webp;50)": (
        "the simulator serves stored PNGs as they are; it does not re-encode to WebP/JPEG"
    ),
}
__doc__ += "".join(f"- {what}: {why}\n" for what, why in NOT_COMPARED.items())

Case = Callable[[Live, dict[str, Any]], Awaitable[None]]
CASES: dict[str, Case] = dict(SESSION_CASES)
SLOW_STEP_S: Final = 0.05


def case(*names: str) -> Callable[[Case], Case]:
    """Register a runner for payload files."""

    def register(runner: Case) -> Case:
        for name in names:
            CASES[name] = runner
        return runner

    return register


def test_every_payload_file_has_a_runner() -> None:
    assert sorted(CASES) == payload_names()


@pytest.mark.parametrize("name", payload_names())
async def test_payload_case(name: str) -> None:
    data = load(name)
    step = SLOW_STEP_S if name.startswith(("05", "06b")) else 0.01
    async with live(step) as sim:
        await CASES[name](sim, data)


@case(
    "01_success.json",
    "02a_value_not_in_list_ckpt.json",
    "02b_missing_node_type.json",
    "02c_required_input_missing.json",
    "02d_value_bigger_than_max.json",
    "02e_value_smaller_than_min.json",
    "02f_prompt_no_outputs.json",
    "02h_missing_prompt_key.json",
    "02i_invalid_input_type.json",
    "02j_return_type_mismatch.json",
    "02k_link_to_missing_node.json",
    "02l_custom_validation_failed.json",
    "02m_partially_valid_accepted.json",
    "02n_invalid_prompt_id.json",
    "02o_dependency_cycle.json",
    "02p_missing_class_type.json",
    "02r_bad_linked_input.json",
    "02t_multiple_errors.json",
    "03a_execution_error_saveimage_path.json",
    "03b_execution_error_corrupt_checkpoint.json",
    "04_oom_cpu.json",
    "07_system_stats.json",
    "10a_binary_frames_plain_client.json",
)
async def single_request(sim: Live, data: dict[str, Any]) -> None:
    """Cases that need nothing before them."""
    await replay_prompt(sim, data)


@case("03c_execution_error_corrupt_checkpoint_again.json")
async def corrupt_again(sim: Live, data: dict[str, Any]) -> None:
    """The failing prompt a second time: the failed node was not cached."""
    await sim.run(load("03b_execution_error_corrupt_checkpoint.json")["request"])
    await replay_prompt(sim, data)


@case("04b_after_oom_next_prompt.json")
async def after_oom(sim: Live, data: dict[str, Any]) -> None:
    """The server keeps working after a CPU OOM."""
    await sim.run(load("04_oom_cpu.json")["request"])
    await replay_prompt(sim, data)


@case("06a_resubmit_identical_cached.json", "07b_before_free_warm_cache.json")
async def after_success(sim: Live, data: dict[str, Any]) -> None:
    """Right after the 01_success prompt ran."""
    await sim.run(load("01_success.json")["request"])
    await replay_prompt(sim, data)


@case("06c_resubmit_downstream_change.json", "06d_reused_prompt_id.json")
async def after_resubmits(sim: Live, data: dict[str, Any]) -> None:
    """The 06 series in capture order."""
    for earlier in (
        "01_success.json",
        "06a_resubmit_identical_cached.json",
        "06c_resubmit_downstream_change.json",
    ):
        if earlier == data["case"] + ".json":
            break
        await sim.run(load(earlier)["request"])
    await replay_prompt(sim, data)


@case("07b_after_free_memory_cache_dropped.json")
async def after_free(sim: Live, data: dict[str, Any]) -> None:
    """POST /free {free_memory} between two identical prompts drops the cache."""
    await sim.run(load("01_success.json")["request"])
    assert (await sim.http.post("/free", json={"free_memory": True})).status_code == 200
    await replay_prompt(sim, data)


@case("10b_binary_frames_preview_metadata_client.json")
async def metadata_previews(sim: Live, data: dict[str, Any]) -> None:
    """Right after 10a, from a client that announced supports_preview_metadata."""
    await sim.run(load("10a_binary_frames_plain_client.json")["request"])
    await replay_prompt(sim, data, flags={"supports_preview_metadata": True})


@case("06e_cache_after_other_prompt.json")
async def other_prompt_between(sim: Live, data: dict[str, Any]) -> None:
    """X, Y, X: the third run has nothing cached."""
    for step in data["steps"]:
        await replay_prompt(sim, step)


@case("02g_malformed_body_not_json.json", "02q_prompt_wrong_json_type.json")
async def malformed_bodies(sim: Live, data: dict[str, Any]) -> None:
    """Bodies ComfyUI crashes on (HTTP 500, text/plain) and a list body (400 no_prompt)."""
    ws = await sim.ws(data["websocket"]["client_id"])
    await replay_calls(sim, data["calls"])
    await sim.settle()
    assert_same_frames(captured_frames(data["websocket"]), ws.frames, "websocket")


@case("07_free.json", "07_info_endpoints.json")
async def idle_calls(sim: Live, data: dict[str, Any]) -> None:
    """Calls on an idle server."""
    await replay_calls(sim, data["calls"])


@case("01_success_followups.json")
async def followups(sim: Live, data: dict[str, Any]) -> None:
    """/view of the saved image and /history?max_items=1 after 01_success."""
    await sim.run(load("01_success.json")["request"])
    await replay_calls(sim, data["calls"], {1: skip_call})
    reply = await send(sim.http, data["calls"][0]["request"])
    for header in ("X-Content-Type-Options", "Content-Disposition"):
        assert reply.headers[header] == data["calls"][0]["response"]["headers"][header]


def _upload(content: bytes, **fields: str) -> CallHandler:
    async def handler(sim: Live, request: dict[str, Any]) -> httpx.Response:
        files = {"image": ("capture_upload.png", content, "image/png")}
        return await sim.http.post(request["path"], files=files, data=fields)

    return handler


@case("07_queue_history_jobs_upload_misc.json")
async def queue_jobs_uploads(sim: Live, data: dict[str, Any]) -> None:
    """Queue/history edits, jobs API errors and filters, idle interrupt, uploads."""
    await sim.run(load("04_oom_cpu.json")["request"])
    sim.backend.inject(FaultSpec("interrupt"))
    await sim.run(load("04b_after_oom_next_prompt.json")["request"])
    calls = [dict(c) for c in data["calls"]]
    calls[4] = {
        **calls[4],
        "request": {**calls[4]["request"], "body": {"job_ids": [str(uuid.uuid4())]}},
    }
    first, second = png_bytes(8, 8, (1, 2, 3)), png_bytes(8, 8, (4, 5, 6))
    uploads = {
        8: _upload(first),
        9: _upload(first),
        10: _upload(first, overwrite="true"),
        11: _upload(second, subfolder="capsub", type="input"),
        12: _upload(second),
    }
    await replay_calls(sim, calls, uploads)
    choices = (await sim.http.get("/object_info/LoadImage")).json()["LoadImage"]["input"][
        "required"
    ]["image"][0]
    assert choices == ["capture_upload (1).png", "capture_upload.png", "example.png"]


@case("07_object_info_selected.json")
async def object_info_selected(sim: Live, data: dict[str, Any]) -> None:
    """GET /object_info/{class} for the captured classes."""
    for name, captured in data["responses"].items():
        assert_same_reply(captured, await sim.http.get(f"/object_info/{name}"), name)


@case("07_object_info_checkpointloader_with_file.json")
async def object_info_with_file(sim: Live, data: dict[str, Any]) -> None:
    """The loader's choice list and /models/checkpoints list the file on disk."""
    reply = await sim.http.get("/object_info/CheckpointLoaderSimple")
    assert_same_reply(data["object_info"]["response"], reply, "object_info")
    assert reply.json() == data["object_info"]["response"]["body"]
    models = await sim.http.get("/models/checkpoints")
    assert_same_reply(data["models_checkpoints"]["response"], models, "models")
    assert models.json() == data["models_checkpoints"]["response"]["body"]


@case("07_object_info_full_summary.json")
async def object_info_full(sim: Live, data: dict[str, Any]) -> None:
    """The whole catalogue: class count, output classes, entry keys."""
    summary = data["summary"]
    reply = await sim.http.get("/object_info")
    assert reply.headers["content-type"] == summary["content_type"]
    body = reply.json()
    assert len(body) == summary["node_class_count"]
    assert (
        sorted(n for n, info in body.items() if info["output_node"])
        == summary["output_node_classes"]
    )
    assert (
        sorted({k for info in body.values() for k in info})
        == summary["distinct_top_level_keys_across_all_entries"]
    )
