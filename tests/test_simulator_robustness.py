"""Random graphs built from the real node schemas never break the simulator."""

from __future__ import annotations

import random
from typing import Any

import httpx

from comfysim.catalogue import real_object_info
from comfysim.pytest_plugin import StartSim
from comfysim.spec import SimBackendSpec
from comfysim.testing import wait_history


def _literal(spec: list[Any]) -> Any:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, list):
        return kind[0] if kind else "missing.safetensors"
    if kind == "COMBO":
        return (options.get("options") or ["missing"])[0]
    if kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
        return options.get("default", options.get("min", 0))
    return None


def random_prompt(rng: random.Random) -> dict[str, Any]:
    """Up to 8 random classes, inputs filled with defaults or links to earlier matching outputs."""
    info, prompt = real_object_info(), {}
    sources: dict[str, list[list[Any]]] = {}
    for index in range(rng.randint(1, 8)):
        class_type = rng.choice(list(info))
        inputs: dict[str, Any] = {}
        for name, spec in info[class_type]["input"].get("required", {}).items():
            value = _literal(spec)
            if value is None and sources.get(spec[0]):
                value = rng.choice(sources[spec[0]])
            if value is not None:
                inputs[name] = value
        node_id = str(index + 1)
        prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        for slot, output in enumerate(info[class_type]["output"]):
            sources.setdefault(str(output), []).append([node_id, slot])
    prompt["99"] = {"class_type": "PreviewAny", "inputs": {"source": [rng.choice(list(prompt)), 0]}}
    return prompt


async def test_any_graph_is_rejected_or_runs_to_a_history_entry(start_sim: StartSim) -> None:
    cluster = await start_sim(SimBackendSpec(id="fuzz", step_time_s=0.0005))
    async with httpx.AsyncClient(base_url=cluster.urls["fuzz"]) as http:
        for seed in range(80):
            reply = await http.post("/prompt", json={"prompt": random_prompt(random.Random(seed))})
            assert reply.status_code in (200, 400), (seed, reply.text)
            if reply.status_code == 200:
                entry = await wait_history(http, reply.json()["prompt_id"])
                outcome = entry["status"]["messages"][-1][0]
                assert outcome in ("execution_success", "execution_error"), seed
        assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
