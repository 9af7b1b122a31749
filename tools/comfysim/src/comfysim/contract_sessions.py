"""Contract scenarios with several sockets or a running job: connect, reconnect, interrupts."""

from __future__ import annotations

from typing import Any

from comfysim.contract import (
    assert_same_frames,
    assert_same_reply,
    assert_same_shape,
    captured_frames,
    load,
    send,
)
from comfysim.contract_replay import Live, replay_prompt
from comfysim.testing import finished, of_type, wait_history, wait_running


async def ws_connect(sim: Live, data: dict[str, Any]) -> None:
    """Greeting with and without clientId, and the feature_flags exchange."""
    with_id = data["with_client_id_and_feature_flags"]
    ws = await sim.ws(with_id["client_id"], {"supports_preview_metadata": True})
    assert_same_frames(captured_frames(with_id), ws.frames, "with clientId")
    anonymous = await sim.ws(None)
    assert_same_frames(
        captured_frames(data["without_client_id"]), anonymous.frames, "without clientId"
    )
    assert len(anonymous.texts()[0]["data"]["sid"]) == 32
    await ws.close()
    await anonymous.close()


async def observer(sim: Live, data: dict[str, Any]) -> None:
    """A prompt without client_id seen from another client's socket."""
    ws = await sim.ws(data["websocket_observer"]["client_id"])
    reply = await send(sim.http, data["request"])
    assert_same_reply(data["response"], reply, "reply")
    history = await wait_history(sim.http, reply.json()["prompt_id"])
    assert_same_shape(
        data["history_response"]["body"], {reply.json()["prompt_id"]: history}, "history"
    )
    await sim.settle()
    assert_same_frames(captured_frames(data["websocket_observer"]), ws.frames, "observer")


async def reconnect(sim: Live, data: dict[str, Any]) -> None:
    """(a) new socket before closing the old: deaf. (b) old closed first: works."""
    trap = data["a_open_new_before_closing_old"]
    old, new = (
        await sim.ws(trap["ws1_old"]["client_id"]),
        await sim.ws(trap["ws2_new"]["client_id"]),
    )
    await old.close()
    reply = await send(sim.http, trap["request"])
    assert_same_reply(trap["response"], reply, "a reply")
    await wait_history(sim.http, reply.json()["prompt_id"])
    await sim.settle()
    assert_same_frames(captured_frames(trap["ws1_old"]), old.frames, "a old")
    assert_same_frames(captured_frames(trap["ws2_new"]), new.frames, "a new")
    ok = data["b_close_old_first"]
    old = await sim.ws(ok["ws3_old"]["client_id"])
    await old.close()
    new = await sim.ws(ok["ws4_new"]["client_id"])
    reply = await send(sim.http, ok["request"])
    await new.wait_for(finished(reply.json()["prompt_id"]))
    assert_same_reply(
        ok["history_response"],
        await sim.http.get(f"/history/{reply.json()['prompt_id']}"),
        "b history",
    )
    assert_same_frames(captured_frames(ok["ws4_new"]), new.frames, "b new")


async def interrupt_scenario(sim: Live, data: dict[str, Any], compare: bool) -> None:
    """05_interrupt: A runs, B and C (front) wait; queue edits, a reconnect, two interrupts."""
    requests = {key: dict(data["request_A"]) for key in "ABC"}
    original = await sim.ws(data["websocket_original"]["client_id"])
    ids = {}
    for key in "ABC" if compare else "A":
        body = dict(data["request_A"]["body"])
        if key != "A":
            prompt = {
                **body["prompt"],
                "10": {
                    **body["prompt"]["10"],
                    "inputs": {**body["prompt"]["10"]["inputs"], "batch_size": 8},
                },
            }
            body = {**body, "prompt": prompt, **({"front": True} if key == "C" else {})}
        reply = await send(sim.http, {**requests[key], "body": body})
        if compare:
            assert_same_reply(data["submit_responses"][key], reply, f"submit {key}")
        ids[key] = reply.json()["prompt_id"]
    await original.wait_for(of_type("progress", node="13"))
    if not compare:
        await sim.http.post("/interrupt", json={"prompt_id": ids["A"]})
        await wait_history(sim.http, ids["A"])
        return
    running = data["while_running"]
    for key in ("get_queue", "get_api_jobs", "system_stats"):
        assert_same_reply(
            running[key]["response"], await send(sim.http, running[key]["request"]), key
        )
    for key in ("A", "B"):
        assert_same_reply(
            running[f"get_api_job_{key}"]["response"],
            await sim.http.get(f"/api/jobs/{ids[key]}"),
            key,
        )
    second = await sim.ws(data["websocket_reconnected_same_client_id"]["client_id"])
    await second.wait_for(of_type("progress", node="13"))
    steps = [
        ("delete_B", {"method": "POST", "path": "/queue", "body": {"delete": [ids["B"]]}}),
        ("queue_after_delete_B", {"method": "GET", "path": "/queue"}),
        ("cancel_C_via_jobs_api", {"method": "POST", "path": f"/api/jobs/{ids['C']}/cancel"}),
        ("queue_after_cancel_C", {"method": "GET", "path": "/queue"}),
        ("interrupt_wrong_prompt_id", running["interrupt_wrong_prompt_id"]["request"]),
        ("interrupt_global", {"method": "POST", "path": "/interrupt"}),
    ]
    for key, request in steps:
        assert_same_reply(running[key]["response"], await send(sim.http, request), key)
    await second.wait_for(finished(ids["A"]))
    after = data["after"]
    for key, prompt_key in (
        ("history_A", "A"),
        ("history_B_deleted_from_queue", "B"),
        ("history_C_cancelled_while_pending", "C"),
    ):
        assert_same_reply(
            after[key]["response"], await sim.http.get(f"/history/{ids[prompt_key]}"), key
        )
    assert_same_reply(
        after["api_job_A"]["response"], await sim.http.get(f"/api/jobs/{ids['A']}"), "api_job_A"
    )
    assert_same_reply(
        after["cancel_A_after_finished"]["response"],
        await sim.http.post(f"/api/jobs/{ids['A']}/cancel"),
        "cancel A",
    )
    await sim.settle()
    assert_same_frames(
        captured_frames(data["websocket_original"]), original.frames, "original", exact=False
    )
    captured_second = captured_frames(data["websocket_reconnected_same_client_id"])
    assert_same_frames(captured_second, second.frames, "reconnected", exact=False)


async def interrupt_case(sim: Live, data: dict[str, Any]) -> None:
    """The whole 05 capture."""
    await interrupt_scenario(sim, data, compare=True)


async def resume_after_interrupt(sim: Live, data: dict[str, Any]) -> None:
    """The prompt interrupted in 05, sent again: the finished nodes come from the cache."""
    await interrupt_scenario(sim, load("05_interrupt.json"), compare=False)
    sim.backend.spec.step_time_s = 0.002
    await replay_prompt(sim, data, exact=False)


async def targeted_interrupt(sim: Live, data: dict[str, Any]) -> None:
    """POST /interrupt {prompt_id} lands inside the running ColorTransfer."""
    node_11 = data["request"]["body"]["prompt"]["11"]
    await sim.run(
        {
            "method": "POST",
            "path": "/prompt",
            "body": {
                "prompt": {
                    "11": node_11,
                    "99": {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}},
                }
            },
        }
    )
    ws = await sim.ws(data["websocket"]["client_id"])
    reply = await send(sim.http, data["request"])
    assert_same_reply(data["response"], reply, "reply")
    prompt_id = reply.json()["prompt_id"]
    await wait_running(sim.http, prompt_id)
    await ws.wait_for(of_type("progress", node="13"))
    interrupt = {**data["interrupt"]["request"], "body": {"prompt_id": prompt_id}}
    assert_same_reply(data["interrupt"]["response"], await send(sim.http, interrupt), "interrupt")
    await ws.wait_for(finished(prompt_id))
    assert_same_reply(
        data["history_response"], await sim.http.get(f"/history/{prompt_id}"), "history"
    )
    await sim.settle()
    assert_same_frames(captured_frames(data["websocket"]), ws.frames, "websocket", exact=False)


SESSION_CASES: dict[str, Any] = {
    "05_interrupt.json": interrupt_case,
    "05b_interrupt_targeted_prompt_id.json": targeted_interrupt,
    "06b_resubmit_after_interrupt.json": resume_after_interrupt,
    "07_ws_connect_and_feature_flags.json": ws_connect,
    "08_no_client_id_observer.json": observer,
    "09_ws_reconnect_same_client_id.json": reconnect,
}
"""Payload files whose runners live here."""
