"""Simulator execution semantics: message order, caching, interrupts, queue, websocket routing."""

from __future__ import annotations

import json
from typing import Any

from comfysim.contract import PAYLOADS
from comfysim.testing import (
    Frame,
    SimSession,
    WsRecorder,
    finished,
    of_type,
    wait_history,
    wait_running,
)
from comfysim.workflows import empty_image, image_chain, tiny, txt2img

CAPTURES = PAYLOADS


def _captured_types(name: str, key: str = "websocket") -> list[str]:
    frames = json.loads((CAPTURES / name).read_text())[key]["messages"]
    return [
        f["message"]["type"]
        for f in frames
        if f["kind"] == "text" and f.get("direction") != "client->server"
    ]


def _data(frames: list[Frame], kind: str) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if isinstance(f, dict) and f["type"] == kind]


def _types(frames: list[Frame]) -> list[str]:
    return [f["type"] if isinstance(f, dict) else "binary" for f in frames]


def _outputs(frames: list[Frame]) -> dict[str, Any]:
    return {d["node"]: d["output"] for d in _data(frames, "executed")}


async def test_success_sends_the_captured_message_sequence(sim_session: SimSession) -> None:
    reply, frames = await sim_session.run(image_chain())
    expected = _captured_types("01_success.json")[1:]  # the capture starts with the connect status
    assert _types(frames) == expected
    entry = await sim_session.history(reply["prompt_id"])
    assert entry["status"]["status_str"] == "success"
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]
    assert entry["outputs"]["5"]["images"][0] == {
        "filename": "chain_00001_.png",
        "subfolder": "sim",
        "type": "output",
    }
    assert entry["prompt"][4] == ["5", "6"]


async def test_saved_image_is_served_by_view(sim_session: SimSession) -> None:
    await sim_session.run(tiny(prefix="viewed/pic"))
    reply = await sim_session.http.get(
        "/view", params={"filename": "pic_00001_.png", "subfolder": "viewed"}
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/png"
    assert reply.content.startswith(b"\x89PNG")


async def test_identical_resubmit_runs_nothing_and_returns_old_filenames(
    sim_session: SimSession,
) -> None:
    _, first = await sim_session.run(image_chain())
    _, second = await sim_session.run(image_chain())
    assert _data(second, "execution_cached")[0]["nodes"] == ["1", "2", "3", "4", "5", "6"]
    assert not [d for d in _data(second, "executing") if d["node"] is not None]
    assert _outputs(second) == _outputs(first)
    gone = await sim_session.http.get(
        "/view", params={"filename": "chain_00003_.png", "subfolder": "sim"}
    )
    assert gone.status_code == 404


async def test_downstream_change_reuses_everything_upstream(sim_session: SimSession) -> None:
    await sim_session.run(image_chain())
    _, frames = await sim_session.run(image_chain(prefix="sim/changed"))
    assert _data(frames, "execution_cached")[0]["nodes"] == ["1", "2", "3", "4", "6"]
    assert [d["node"] for d in _data(frames, "executing")] == ["5", None]


async def test_another_prompt_in_between_evicts_the_cache(sim_session: SimSession) -> None:
    await sim_session.run(image_chain())
    await sim_session.run(tiny(color=123456))
    _, frames = await sim_session.run(image_chain())
    assert _data(frames, "execution_cached")[0]["nodes"] == []


async def test_free_memory_drops_the_cache(sim_session: SimSession) -> None:
    await sim_session.run(image_chain())
    assert (await sim_session.http.post("/free", json={"free_memory": True})).status_code == 200
    _, frames = await sim_session.run(image_chain())
    assert _data(frames, "execution_cached")[0]["nodes"] == []


async def test_interrupted_run_resumes_from_the_first_unfinished_node(
    sim_session: SimSession,
) -> None:
    prompt = txt2img(steps=400)
    prompt_id = await sim_session.submit(prompt)
    await sim_session.ws.wait_for(of_type("progress", prompt_id=prompt_id, node="3"))
    await sim_session.http.post("/interrupt", json={"prompt_id": prompt_id})
    entry = await sim_session.history(prompt_id)
    last = entry["status"]["messages"][-1]
    assert last[0] == "execution_interrupted"
    assert last[1]["node_id"] == "3" and last[1]["node_type"] == "KSampler"
    assert sorted(last[1]["executed"]) == ["4", "5", "6", "7"]
    assert entry["status"] == {**entry["status"], "status_str": "error", "completed": False}
    start = len(sim_session.ws.frames)
    resumed = await sim_session.submit(txt2img(steps=2))
    cached = await sim_session.ws.wait_for(of_type("execution_cached", prompt_id=resumed), start)
    assert sorted(cached["data"]["nodes"]) == ["4", "5", "6", "7"]


async def test_targeted_interrupt_of_another_prompt_is_a_no_op(sim_session: SimSession) -> None:
    running = await sim_session.submit(txt2img(steps=60))
    pending = await sim_session.submit(tiny())
    await sim_session.ws.wait_for(of_type("progress", prompt_id=running))
    await sim_session.http.post("/interrupt", json={"prompt_id": pending})
    entry = await sim_session.history(running)
    assert entry["status"]["status_str"] == "success"
    assert (await sim_session.history(pending))["status"]["status_str"] == "success"


async def test_global_interrupt_hits_whatever_runs_but_is_forgotten_when_idle(
    sim_session: SimSession,
) -> None:
    assert (await sim_session.http.post("/interrupt")).status_code == 200
    _, frames = await sim_session.run(tiny())
    assert "execution_success" in _types(frames)
    running = await sim_session.submit(txt2img(steps=400))
    await sim_session.ws.wait_for(of_type("progress", prompt_id=running))
    reply = await sim_session.http.post("/interrupt")
    assert reply.status_code == 200 and reply.content == b"" and "content-type" not in reply.headers
    entry = await sim_session.history(running)
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


async def test_reconnect_with_the_same_client_id_before_closing_leaves_the_new_socket_deaf(
    sim_session: SimSession,
) -> None:
    old = await WsRecorder.connect(sim_session.url, "twin")
    new = await WsRecorder.connect(sim_session.url, "twin")
    await new.wait_for(of_type("status"))
    await old.close()
    reply = await sim_session.http.post("/prompt", json={"prompt": tiny(), "client_id": "twin"})
    await wait_history(sim_session.http, reply.json()["prompt_id"])
    await sim_session.run(tiny(color=2))  # our own job ends after it: every frame has been sent
    assert new.types() == ["status"]
    await new.close()


async def test_reconnect_after_closing_the_old_socket_works(sim_session: SimSession) -> None:
    old = await WsRecorder.connect(sim_session.url, "again")
    await old.close()
    new = await WsRecorder.connect(sim_session.url, "again")
    reply = await sim_session.http.post("/prompt", json={"prompt": tiny(), "client_id": "again"})
    await new.wait_for(finished(reply.json()["prompt_id"]))
    assert "execution_success" in new.types()
    await new.close()


async def test_job_without_client_id_only_broadcasts_status_and_progress(
    sim_session: SimSession,
) -> None:
    start = len(sim_session.ws.frames)
    reply = await sim_session.http.post("/prompt", json={"prompt": image_chain()})
    entry = await wait_history(sim_session.http, reply.json()["prompt_id"])
    await sim_session.run(tiny())
    seen = sim_session.ws.texts(start)
    foreign = [f["type"] for f in seen if f["data"].get("prompt_id") == reply.json()["prompt_id"]]
    assert set(foreign) == {"progress_state", "progress"}
    assert entry["status"]["status_str"] == "success"


async def test_reconnecting_owner_gets_the_reduced_executing_frame(sim_session: SimSession) -> None:
    running = await sim_session.submit(txt2img(steps=400))
    await sim_session.ws.wait_for(of_type("progress", prompt_id=running))
    second = await WsRecorder.connect(sim_session.url, sim_session.client_id)
    frame = await second.wait_for(of_type("executing"))
    assert frame == {"type": "executing", "data": {"node": "3"}}
    assert second.texts()[0]["data"]["sid"] == sim_session.client_id
    await sim_session.http.post("/interrupt", json={"prompt_id": running})
    await second.wait_for(finished(running))
    await second.close()


async def test_front_queue_delete_and_cancel_leave_no_trace(sim_session: SimSession) -> None:
    blocker = await sim_session.submit(txt2img(steps=400))
    await wait_running(sim_session.http, blocker)
    later = await sim_session.submit(tiny(color=5))
    first = (
        await sim_session.http.post("/prompt", json=sim_session.body(tiny(color=6), front=True))
    ).json()
    assert first["number"] < 0
    pending = [item[1] for item in (await sim_session.http.get("/queue")).json()["queue_pending"]]
    assert pending == [first["prompt_id"], later]
    await sim_session.http.post("/queue", json={"delete": [later]})
    cancel = await sim_session.http.post(f"/api/jobs/{first['prompt_id']}/cancel")
    assert cancel.json() == {"cancelled": True}
    assert (await sim_session.http.get("/queue")).json()["queue_pending"] == []
    await sim_session.http.post(f"/api/jobs/{blocker}/cancel")
    assert (await sim_session.history(blocker))["status"]["messages"][-1][
        0
    ] == "execution_interrupted"
    for gone in (later, first["prompt_id"]):
        assert (await sim_session.http.get(f"/history/{gone}")).json() == {}
        assert (await sim_session.http.get(f"/api/jobs/{gone}")).status_code == 404
    job = (await sim_session.http.get(f"/api/jobs/{blocker}")).json()
    assert job["status"] == "cancelled" and "workflow" in job


async def test_partially_valid_prompt_runs_only_the_valid_output(sim_session: SimSession) -> None:
    prompt = {
        **tiny(),
        "3": {
            "class_type": "EmptyImage",
            "inputs": {"width": 99999, "height": 64, "batch_size": 1, "color": 0},
        },
    }
    prompt["4"] = {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}
    reply, _ = await sim_session.run(prompt)
    assert list(reply["node_errors"]) == ["3"]
    entry = await sim_session.history(reply["prompt_id"])
    assert entry["prompt"][4] == ["2"] and list(entry["outputs"]) == ["2"]


async def test_history_paging_and_deletion(sim_session: SimSession) -> None:
    ids = [(await sim_session.run(tiny(color=c)))[0]["prompt_id"] for c in (10, 11, 12)]
    newest = (await sim_session.http.get("/history", params={"max_items": 1})).json()
    assert list(newest) == [ids[2]]
    window = (await sim_session.http.get("/history", params={"max_items": 2, "offset": 0})).json()
    assert list(window) == ids[:2]
    assert (await sim_session.http.get("/history", params={"max_items": "x"})).status_code == 500
    await sim_session.http.post("/history", json={"delete": [ids[0]]})
    assert ids[0] not in (await sim_session.http.get("/history")).json()


async def test_reused_prompt_id_replaces_the_history_entry(sim_session: SimSession) -> None:
    prompt_id = "46089180-43dd-4540-a1d5-74d15d5fc308"
    await sim_session.run(tiny(color=20), prompt_id=prompt_id)
    await sim_session.run(tiny(color=21, prefix="sim/again"), prompt_id=prompt_id)
    entry = await sim_session.history(prompt_id)
    assert entry["outputs"]["2"]["images"][0]["filename"] == "again_00001_.png"


async def test_binary_frames_follow_the_client_feature_flags(sim_session: SimSession) -> None:
    prompt = empty_image(96, 64, batch=3, color=3355443, output="SaveImageWebsocket")
    _, plain = await sim_session.run(prompt)
    rich = await WsRecorder.connect(
        sim_session.url, "rich", flags={"supports_preview_metadata": True}
    )
    await rich.wait_for(of_type("feature_flags"))
    reply = await sim_session.http.post("/prompt", json={"prompt": prompt, "client_id": "rich"})
    await rich.wait_for(finished(reply.json()["prompt_id"]))
    plain_types = _types(plain)
    assert plain_types.count("binary") == 3
    assert plain_types[plain_types.index("binary") - 1] == "progress"
    rich_types = rich.types()
    assert rich_types.count("binary:4") == 3
    assert rich_types[rich_types.index("binary:4") + 1] == "progress"
    await rich.close()
