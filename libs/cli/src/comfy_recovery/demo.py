"""`comfy-recovery demo`: a few jobs, some failing on purpose, and how each one ended."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import httpx

from comfy_recovery import render, stackfile
from comfy_recovery.errors import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
)
from comfy_recovery.stack import Stack, StackConfig, StackConfigError, StackRunningError
from contracts import RecoveryDecided, RecoveryPolicy
from contracts.backends import parse_backends
from contracts.errors import BusUnavailableError
from contracts.settings import BusSettings
from cr_client import JobClient


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
    except (BusUnavailableError, TimeoutError, OSError):
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
    """Use the running stack (``CR_NATS_URL``, or a live ``<data>/stack.json``), or start
    one for the demo and stop it afterwards; run the scenarios, print the outcome table.

    Raises:
        CliError: ``CR_NATS_URL`` is set but nothing answers there, or the stack cannot start.
    """
    try:
        config = StackConfig.from_env()
    except StackConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    if config.nats_url:
        if not await stack_is_up(BusSettings()):
            raise CliError(
                f"cannot reach NATS at {config.nats_url}: CR_NATS_URL is set, so demo uses that "
                "stack and starts none (start it, or unset CR_NATS_URL)",
                EXIT_UNAVAILABLE,
            )
        return await _run_on(BusSettings(), _running_urls(config), timeout)
    running = stackfile.live(config.data_dir)
    if running is not None and await stack_is_up(BusSettings(url=running["nats_url"])):
        say(f"using the stack of pid {running['pid']} (NATS {running['nats_url']})")
        return await _run_on(
            BusSettings(url=running["nats_url"]), str(running.get("comfyui_urls", "")), timeout
        )
    local = BusSettings(url=f"nats://127.0.0.1:{config.nats_port}")
    if await stack_is_up(local):  # a stack without a stack file (e.g. another data dir)
        return await _run_on(local, config.comfyui_urls, timeout)
    stack = Stack(config, echo=False, log_file=config.data_dir / "demo-stack.log")
    say(f"starting the local stack (logs: {config.data_dir / 'demo-stack.log'}) …")
    try:
        await stack.start()
        await wait_ready(stack)
        return await _run_on(BusSettings(url=stack.nats_url), stack.comfyui_urls, timeout)
    except StackRunningError as exc:
        raise CliError(str(exc), EXIT_REFUSED) from exc
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise CliError(
            f"the local stack did not start: {exc} (see {stack.log.name if stack.log else 'log'})",
            EXIT_UNAVAILABLE,
        ) from exc
    finally:
        await stack.stop()


def say(text: str) -> None:
    """A progress line on stderr (stdout holds the outcome table)."""
    print(text, file=sys.stderr, flush=True)


async def wait_ready(stack: Stack, timeout: float = 90.0) -> None:
    """Until every service answers 200 on /readyz (consumers bound, backends probed)."""
    health = stack.describe()["health"]
    assert isinstance(health, dict)
    urls = [f"{base}/readyz" for base in health.values()]
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            codes = await asyncio.gather(*(http.get(u) for u in urls), return_exceptions=True)
            if all(isinstance(c, httpx.Response) and c.status_code == 200 for c in codes):
                return
            if stack.failed.is_set() or asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"services not ready after {timeout:.0f}s")
            await asyncio.sleep(0.5)


async def _run_on(settings: BusSettings, comfyui_urls: str, timeout: float) -> int:
    if comfyui_urls:
        await inject_faults(comfyui_urls)
    return await _run(settings, timeout)


def _running_urls(config: StackConfig) -> str:
    running = stackfile.read(config.data_dir)
    if running is not None:
        return str(running.get("comfyui_urls", ""))
    return config.comfyui_urls


async def _run(settings: BusSettings, timeout: float) -> int:
    async with await JobClient.connect(settings, source="demo") as client:
        started = time.monotonic()
        jobs = [(s, await client.submit(s.workflow(), policy=s.policy)) for s in SCENARIOS]
        say(f"submitted {len(jobs)} jobs; waiting for them to end …")
        results = await asyncio.gather(
            *(client.result(job_id, timeout) for _, job_id in jobs), return_exceptions=True
        )
        rows = []
        for (scenario, job_id), result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                rows.append((scenario.name, job_id, "TIMEOUT", "-", "-", ""))
                continue
            chain = [str(e.strategy) for e in result.events if isinstance(e, RecoveryDecided)]
            note = result.user_message or ""
            rows.append(
                (
                    scenario.name,
                    job_id,
                    str(result.status),
                    str(result.attempts),
                    " → ".join(chain) or "-",
                    note[:70],
                )
            )
        print(render.table(["scenario", "job", "outcome", "attempts", "recovery", "message"], rows))
        print(f"({time.monotonic() - started:.1f}s; `comfy-recovery history <job>` shows why)")
    timed_out = sum(1 for r in results if isinstance(r, BaseException))
    return EXIT_JOB_FAILED if timed_out else EXIT_OK
