"""Each fault kind shows what a real server would: errors, HTTP failures, lost sockets, stalls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from comfysim.failures import CUDA_ILLEGAL_ACCESS
from comfysim.pytest_plugin import StartSim
from comfysim.spec import FaultSpec, SimBackendSpec
from comfysim.testing import SAFETY_TIMEOUT_S, SimSession, WsRecorder, of_type, wait_history
from comfysim.workflows import tiny, txt2img

SERVER_ERROR = "500 Internal Server Error\n\nServer got itself in trouble"


async def _arm(session: SimSession, kind: str, **fault: object) -> None:
    reply = await session.http.post("/sim/faults", json={"kind": kind, **fault})
    assert reply.status_code == 200, reply.text


async def _error(session: SimSession, prompt: dict[str, Any]) -> dict[str, Any]:
    _, frames = await session.run(prompt)
    errors = [f["data"] for f in frames if isinstance(f, dict) and f["type"] == "execution_error"]
    assert errors, " ".join(f["type"] for f in frames if isinstance(f, dict))
    error: dict[str, Any] = errors[0]
    return error


async def _wait_up(url: str, until: Callable[[dict[str, Any]], bool] = lambda _: True) -> None:
    """Poll /sim/state until the backend answers and `until(state)` holds."""
    async with asyncio.timeout(SAFETY_TIMEOUT_S), httpx.AsyncClient(base_url=url) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if until((await http.get("/sim/state")).json()):
                    return
            await asyncio.sleep(0.02)


async def test_fault_control_routes(sim_session: SimSession) -> None:
    http = sim_session.http
    bad = await http.post("/sim/faults", json={"kind": "gremlins"})
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]
    await _arm(sim_session, "node_error", times=2, match={"class_type": "ImageInvert"})
    listed = (await http.get("/sim/faults")).json()["faults"]
    assert listed == [
        {
            "kind": "node_error",
            "times": 2,
            "match": {"class_type": "ImageInvert"},
            "params": {},
            "remaining": 2,
            "fired": 0,
        }
    ]
    assert (await http.delete("/sim/faults")).json() == {"faults": []}


async def test_stall_shows_no_progress_until_interrupted(sim_session: SimSession) -> None:
    await _arm(sim_session, "stall")
    prompt_id = await sim_session.submit(txt2img(steps=20))
    await sim_session.ws.wait_for(of_type("executing", node="3", prompt_id=prompt_id))
    assert (await sim_session.http.get("/queue")).json()["queue_running"][0][1] == prompt_id
    await sim_session.http.post("/interrupt", json={"prompt_id": prompt_id})
    entry = await sim_session.history(prompt_id)
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    progress = [
        f
        for f in sim_session.ws.texts()
        if f["type"] == "progress" and f["data"]["prompt_id"] == prompt_id
    ]
    assert progress == []


async def test_node_failures_are_real_execution_errors(sim_session: SimSession) -> None:
    await _arm(sim_session, "disk_full")
    disk = await _error(sim_session, txt2img(prefix="sim/disk"))
    assert (disk["node_type"], disk["exception_type"]) == ("SaveImage", "OSError")
    assert disk["exception_message"] == "[Errno 28] No space left on device\n"
    await _arm(sim_session, "corrupt_model", match={"ckpt_contains": "v1-5"})
    corrupt = await _error(sim_session, txt2img(ckpt="v1-5-pruned-emaonly.safetensors"))
    assert (corrupt["node_type"], corrupt["exception_type"]) == (
        "CheckpointLoaderSimple",
        "safetensors._safetensors_rust.SafetensorError",
    )
    assert corrupt["exception_message"] == "Error while deserializing header: HeaderTooLarge\n"
    assert corrupt["executed"] == [] and corrupt["current_inputs"] == {
        "ckpt_name": ["v1-5-pruned-emaonly.safetensors"]
    }
    await _arm(
        sim_session,
        "node_error",
        match={"class_type": "VAEDecode"},
        params={"message": "bad shape"},
    )
    plain = await _error(
        sim_session, txt2img(steps=5)
    )  # a new sampler key: VAEDecode is not cached
    assert (plain["node_type"], plain["exception_type"], plain["exception_message"]) == (
        "VAEDecode",
        "ValueError",
        "bad shape\n",
    )


async def test_device_fault_happens_mid_sampling(sim_session: SimSession) -> None:
    await _arm(sim_session, "device_fault")
    start = len(sim_session.ws.frames)
    error = await _error(sim_session, txt2img(steps=6))
    assert (error["node_type"], error["exception_type"]) == ("KSampler", "RuntimeError")
    assert error["exception_message"] == CUDA_ILLEGAL_ACCESS + "\n"
    steps = [f["data"]["value"] for f in sim_session.ws.texts(start) if f["type"] == "progress"]
    assert steps == [1, 2, 3]


async def test_forced_oom_and_host_oom(sim_session: SimSession) -> None:
    await _arm(sim_session, "oom", match={"class_type": "VAEDecode"})
    gpu = await _error(sim_session, txt2img(width=512, height=512))
    assert (gpu["node_type"], gpu["exception_type"]) == ("VAEDecode", "torch.OutOfMemoryError")
    assert gpu["exception_message"].startswith("CUDA out of memory. Tried to allocate ")
    assert (await sim_session.http.get("/sim/state")).json()["fragmentation_bytes"] > 0
    await _arm(sim_session, "host_oom", params={"bytes": 123456789012})
    host = await _error(sim_session, tiny(color=77))
    assert host["exception_type"] == "RuntimeError"
    assert (
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 123456789012 bytes"
        in host["exception_message"]
    )


async def test_unrequested_interrupt_mid_job(sim_session: SimSession) -> None:
    await _arm(sim_session, "interrupt")
    reply, frames = await sim_session.run(txt2img(steps=8))
    kinds = [f["type"] for f in frames if isinstance(f, dict)]
    assert "execution_interrupted" in kinds and "progress" in kinds
    assert (await sim_session.http.get("/sim/state")).json()["interrupts"] == []


async def test_missing_model_and_missing_node_fail_validation(sim_session: SimSession) -> None:
    await _arm(sim_session, "missing_model", match={"ckpt_contains": "flux1-dev-fp8"})
    choices = (await sim_session.http.get("/object_info/CheckpointLoaderSimple")).json()
    assert (
        "flux1-dev-fp8.safetensors"
        not in choices["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    )
    gone = (
        await sim_session.http.post(
            "/prompt", json={"prompt": txt2img(ckpt="flux1-dev-fp8.safetensors")}
        )
    ).json()
    assert gone["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"
    back = await sim_session.http.post(
        "/prompt", json={"prompt": txt2img(ckpt="flux1-dev-fp8.safetensors")}
    )
    assert back.status_code == 200
    await _arm(sim_session, "missing_node", params={"class_type": "ImageInvert"})
    prompt = {**tiny(), "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}}
    assert (await sim_session.http.get("/object_info/ImageInvert")).json() == {}
    error = (await sim_session.http.post("/prompt", json={"prompt": prompt})).json()["error"]
    assert (
        error["type"] == "missing_node_type" and error["extra_info"]["class_type"] == "ImageInvert"
    )


async def test_http_faults_on_post_prompt(sim_session: SimSession) -> None:
    await _arm(sim_session, "http500")
    failed = await sim_session.http.post("/prompt", json={"prompt": tiny()})
    assert (failed.status_code, failed.headers["content-type"], failed.text) == (
        500,
        "text/plain; charset=utf-8",
        SERVER_ERROR,
    )
    await _arm(sim_session, "reset")
    with pytest.raises(httpx.TransportError):
        await sim_session.http.post("/prompt", json={"prompt": tiny()})
    assert (await sim_session.http.get("/sim/state")).json()["prompts_accepted"] == 0
    assert (await sim_session.http.post("/prompt", json={"prompt": tiny()})).status_code == 200


async def test_wedged_backend_accepts_but_never_moves(sim_session: SimSession) -> None:
    await _arm(sim_session, "wedged")
    first = await sim_session.submit(tiny(color=1))
    second = await sim_session.submit(tiny(color=2))
    await sim_session.http.post("/interrupt")
    queue = (await sim_session.http.get("/queue")).json()
    assert [item[1] for item in queue["queue_running"]] == [first]
    assert [item[1] for item in queue["queue_pending"]] == [second]
    assert not [f for f in sim_session.ws.texts() if f["type"] == "execution_start"]
    assert (await sim_session.http.get("/sim/state")).json()["wedged"] is True


async def test_ws_drop_closes_sockets_while_the_job_goes_on(sim_session: SimSession) -> None:
    await _arm(sim_session, "ws_drop")
    prompt_id = await sim_session.submit(txt2img(steps=6))
    await sim_session.ws.wait_closed()
    assert sim_session.ws.ws.close_code == 1006
    entry = await wait_history(sim_session.http, prompt_id)
    assert entry["status"]["status_str"] == "success"


async def test_ws_slow_delays_every_frame(sim_session: SimSession) -> None:
    await _arm(sim_session, "ws_slow", params={"delay_s": 0.1})
    prompt_id = await sim_session.submit(tiny())
    await wait_history(sim_session.http, prompt_id)
    assert not [
        f
        for f in sim_session.ws.texts()
        if f["type"] == "executing" and f["data"].get("node") is None
    ]
    await sim_session.ws.wait_for(of_type("executing", node=None, prompt_id=prompt_id))


async def test_crash_mid_job_loses_everything_and_refuses_meanwhile(start_sim: StartSim) -> None:
    spec = SimBackendSpec(
        id="c", step_time_s=0.005, faults=[FaultSpec("crash", params={"down_s": 1.0})]
    )
    backend = (await start_sim(spec)).backend("c")
    async with httpx.AsyncClient(base_url=backend.url) as http:
        ws = await WsRecorder.connect(backend.url, "victim")
        reply = await http.post(
            "/prompt", json={"prompt": txt2img(steps=10), "client_id": "victim"}
        )
        prompt_id = reply.json()["prompt_id"]
        await ws.wait_closed()
        with pytest.raises(httpx.ConnectError):
            await http.get("/queue")
        await _wait_up(backend.url)
        assert (await http.get(f"/history/{prompt_id}")).json() == {}
        assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
        assert (await http.post("/prompt", json={"prompt": tiny()})).json()["number"] == 0
        state = (await http.get("/sim/state")).json()
        assert state["crashes"] == 1 and state["prompts_executed"][prompt_id] == 1


async def test_crash_route_and_refuse_fault(sim_session: SimSession) -> None:
    reply, _ = await sim_session.run(tiny())
    assert (
        await sim_session.http.post(
            "/sim/faults", json={"kind": "refuse", "params": {"down_s": 1.0}}
        )
    ).status_code == 200
    await sim_session.ws.wait_closed()
    async with httpx.AsyncClient(base_url=sim_session.url) as fresh:
        with pytest.raises(httpx.ConnectError):
            await fresh.get("/prompt")
    await _wait_up(sim_session.url)
    assert (await sim_session.http.get(f"/history/{reply['prompt_id']}")).json() != {}
    crash = await sim_session.http.post("/sim/crash", json={"down_s": 0})
    assert crash.json() == {"crashing": True, "down_s": 0.0}
    await _wait_up(sim_session.url, until=lambda state: state["crashes"] == 1)
    assert (await sim_session.http.get(f"/history/{reply['prompt_id']}")).json() == {}
