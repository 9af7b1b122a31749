"""`comfy-recovery demo`: a few jobs, some failing on purpose, and how each one ended."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import httpx

from comfy_recovery import render
from comfy_recovery.stack import Stack, StackConfig
from contracts import JobClient, RecoveryDecided, RecoveryPolicy
from contracts.backends import parse_backends
from contracts.errors import BusUnavailableError
from contracts.settings import BusSettings


def base_workflow() -> dict[str, Any]:
    """The packaged SDXL text-to-image graph (API format)."""
    text = resources.files("comfy_recovery.workflows").joinpath("sdxl_txt2img.json").read_text()
    workflow: dict[str, Any] = json.loads(text)
    return workflow


@dataclass
class Scenario:
    """One demo job: what it changes in the graph and what it should show."""

    name: str
    latent: dict[str, int] = field(default_factory=dict)
    policy: RecoveryPolicy | None = None
    prefix: str = "demo"
    fault: dict[str, Any] | None = None
    extra_node: bool = False

    def workflow(self) -> dict[str, Any]:
        graph = copy.deepcopy(base_workflow())
        graph["5"]["inputs"].update(self.latent)
        graph["9"]["inputs"]["filename_prefix"] = self.prefix
        if self.extra_node:
            graph["10"] = {"class_type": "FaceDetailerPro", "inputs": {"image": ["8", 0]}}
            graph["11"] = {
                "class_type": "SaveImage",
                "inputs": {"images": ["10", 0], "filename_prefix": self.prefix},
            }
        return graph


SCENARIOS = [
    Scenario("1024x1024, batch 1", prefix="demo-plain"),
    Scenario("832x1216 portrait", {"width": 832, "height": 1216}, prefix="demo-portrait"),
    Scenario("1024x1024, batch 8 (OOM → split)", {"batch_size": 8}, prefix="demo-batch"),
    Scenario(
        "3072x3072 (OOM → smaller, degradation allowed)",
        {"width": 3072, "height": 3072},
        RecoveryPolicy(allow_degradation=True),
        prefix="demo-huge",
    ),
    Scenario(
        "sampler stalls once (→ interrupt, resume)",
        prefix="demo-stall",
        policy=RecoveryPolicy(stall_window_s=4),
        fault={"kind": "stall", "times": 1, "match": {"filename_prefix_contains": "demo-stall"}},
    ),
    Scenario("custom node not installed anywhere (→ abort)", prefix="demo-node", extra_node=True),
]


async def stack_is_up(settings: BusSettings) -> bool:
    """Whether NATS answers at the configured URL."""
    try:
        client = await asyncio.wait_for(JobClient.connect(settings, source="demo"), 5)
    except (BusUnavailableError, TimeoutError):
        return False
    await client.close()
    return True


async def inject_faults(comfyui_urls: str) -> None:
    """Arm the scenario faults on every simulator backend (real ComfyUI ignores them)."""
    async with httpx.AsyncClient(timeout=5) as http:
        for ref in parse_backends(comfyui_urls):
            for scenario in SCENARIOS:
                if scenario.fault:
                    with contextlib.suppress(httpx.HTTPError):
                        await http.post(f"{ref.url}/sim/faults", json=scenario.fault)


async def run_demo(timeout: float = 300) -> int:
    """Start the stack if it is not running, run the scenarios, print the outcome table."""
    settings = BusSettings()
    stack = None
    config = StackConfig.from_env()
    if not await stack_is_up(settings):
        stack = Stack(config, echo=False, log_file=config.data_dir / "demo-stack.log")
        print(f"starting the local stack (logs: {config.data_dir / 'demo-stack.log'}) …")
        await stack.start()
        settings = BusSettings(url=stack.nats_url)
        await asyncio.sleep(3)
    urls = stack.comfyui_urls if stack else _running_urls(config)
    if urls:
        await inject_faults(urls)
    try:
        return await _run(settings, timeout)
    finally:
        if stack is not None:
            await stack.stop()


def _running_urls(config: StackConfig) -> str:
    path = config.data_dir / "stack.json"
    if path.exists():
        return str(json.loads(path.read_text()).get("comfyui_urls", ""))
    return config.comfyui_urls


async def _run(settings: BusSettings, timeout: float) -> int:
    async with await JobClient.connect(settings, source="demo") as client:
        started = time.monotonic()
        jobs = [(s, await client.submit(s.workflow(), policy=s.policy)) for s in SCENARIOS]
        print(f"submitted {len(jobs)} jobs; waiting for them to end …")
        results = await asyncio.gather(
            *(client.result(job_id, timeout) for _, job_id in jobs), return_exceptions=True
        )
        rows = []
        for (scenario, job_id), result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                rows.append((scenario.name, job_id[:8], "TIMEOUT", "-", "-", ""))
                continue
            chain = [str(e.strategy) for e in result.events if isinstance(e, RecoveryDecided)]
            note = result.user_message or ""
            rows.append(
                (
                    scenario.name,
                    job_id[:8],
                    str(result.status),
                    str(result.attempts),
                    " → ".join(chain) or "-",
                    note[:70],
                )
            )
        print(render.table(["scenario", "job", "outcome", "attempts", "recovery", "message"], rows))
        print(f"({time.monotonic() - started:.1f}s; `comfy-recovery history <job>` shows why)")
    return 0
