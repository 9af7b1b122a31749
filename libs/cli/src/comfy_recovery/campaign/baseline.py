"""The client-side policies: `none`, `naive` and `seed`, talking to ComfyUI directly.

Each job is one loop: pick the backend with the shortest queue, POST /prompt, wait for the
outcome (watch.py), and on a failure ask the policy what to do: `none` stops, `naive`
resubmits the same prompt to the same backend after 2, 4 and 8 s, `seed` follows the seed
system's table (seedtable.py) on the same backend. A job past its deadline is given up and its
prompt interrupted or dropped from the queue, as a client that stops waiting would do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import httpx

from comfy_recovery.campaign import seedtable
from comfy_recovery.campaign.metrics import ABORTED, COMPLETED, UNFINISHED, JobRun
from comfy_recovery.campaign.mix import JobSpec
from comfy_recovery.campaign.seedtable import Decision, Failure, Params
from comfy_recovery.campaign.watch import BackendWatcher

POLICIES: Final = ("none", "naive", "seed")
NAIVE_RETRIES: Final = 3


def decide(policy: str, failure: Failure, params: Params, recoveries: int) -> Decision:
    """What a client-side policy does after a failure."""
    if policy == "seed":
        return seedtable.decide(failure, params, recoveries)
    if policy == "naive" and recoveries < NAIVE_RETRIES:
        return Decision("RETRY", params, delay_s=2.0 * 2**recoveries, reason=failure.surface)
    return Decision("ABORT", params, reason=failure.text[:200] or failure.surface)


def apply_params(spec: JobSpec, params: Params) -> dict[str, Any]:
    """The job's graph with the policy's current parameters."""
    graph = spec.workflow()
    graph["5"]["inputs"].update(width=params.width, height=params.height, batch_size=params.batch)
    graph["3"]["inputs"]["steps"] = params.steps
    graph["4"]["inputs"]["ckpt_name"] = params.ckpt
    return graph


def failure_of(entry: dict[str, Any]) -> Failure | None:
    """None for a successful history entry, else what went wrong."""
    status = entry.get("status", {})
    if status.get("status_str") == "success":
        return None
    for name, data in status.get("messages", []):
        if name == "execution_error":
            text = f"{data.get('exception_type')}: {data.get('exception_message')}"
            return Failure("execution", text)
        if name == "execution_interrupted":
            return Failure("interrupted", "execution interrupted")
    return Failure("execution", "the prompt failed without an error message")


@dataclass
class _Current:
    url: str = ""
    prompt_id: str = ""


class BaselineRunner:
    """Runs a campaign's jobs under one client-side policy against a fleet."""

    def __init__(
        self, policy: str, urls: dict[str, str], deadline_s: float, stall_s: float
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown client-side policy {policy!r}")
        self.policy = policy
        self.urls = urls
        self.deadline_s = deadline_s
        self.stall_s = stall_s
        self.client_id = str(uuid.uuid4())

    async def run(self, specs: list[JobSpec]) -> dict[int, JobRun]:
        """Submit every job at its arrival time; return what the client saw of each."""
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(limits=limits) as http:
            watchers = {
                ident: BackendWatcher(url, http, self.stall_s) for ident, url in self.urls.items()
            }
            for watcher in watchers.values():
                watcher.start()
            try:
                start = time.monotonic()
                runs = await asyncio.gather(
                    *(self._arrive(http, watchers, spec, start) for spec in specs)
                )
            finally:
                for watcher in watchers.values():
                    await watcher.stop()
        return {run.index: run for run in runs}

    async def _arrive(
        self,
        http: httpx.AsyncClient,
        watchers: dict[str, BackendWatcher],
        spec: JobSpec,
        start: float,
    ) -> JobRun:
        await asyncio.sleep(max(0.0, start + spec.arrival_s - time.monotonic()))
        run = JobRun(spec.index, submitted_at=time.time())
        current = _Current()
        try:
            async with asyncio.timeout(self.deadline_s):
                await self._job(http, watchers, spec, run, current)
        except TimeoutError:
            run.status, run.message = UNFINISHED, "deadline passed"
            await self._give_up(http, watchers, current)
        run.ended_at = run.ended_at or time.time()
        return run

    async def _job(
        self,
        http: httpx.AsyncClient,
        watchers: dict[str, BackendWatcher],
        spec: JobSpec,
        run: JobRun,
        current: _Current,
    ) -> None:
        backend = min(watchers, key=lambda ident: watchers[ident].queue_length)
        params = Params(spec.width, spec.height, spec.batch, spec.steps, spec.ckpt)
        recoveries = 0
        while True:
            failure = await self._attempt(http, watchers[backend], spec, params, current)
            if failure is None:
                run.status, run.completions = COMPLETED, 1
                run.final_prompts, run.ended_at = [current.prompt_id], time.time()
                return
            run.first_failure_at = run.first_failure_at or time.time()
            decision = decide(self.policy, failure, params, recoveries)
            if decision.action == "ABORT":
                run.status, run.message, run.ended_at = ABORTED, decision.reason, time.time()
                return
            await asyncio.sleep(decision.delay_s)
            params, recoveries = decision.params, recoveries + 1

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        watcher: BackendWatcher,
        spec: JobSpec,
        params: Params,
        current: _Current,
    ) -> Failure | None:
        body = {"prompt": apply_params(spec, params), "client_id": self.client_id}
        try:
            reply = await http.post(f"{watcher.url}/prompt", json=body, timeout=10)
        except httpx.ConnectError as exc:
            return Failure("unreachable", str(exc) or "connection refused")
        except httpx.HTTPError as exc:
            return Failure("http", f"{type(exc).__name__}: {exc}")
        if reply.status_code == 400:
            return Failure("validation", reply.text)
        if reply.status_code != 200:
            return Failure("http", f"HTTP {reply.status_code}: {reply.text[:200]}")
        prompt_id = str(reply.json()["prompt_id"])
        current.url, current.prompt_id = watcher.url, prompt_id
        settled = await watcher.watch(prompt_id)
        if settled.how == "timeout":
            await _interrupt(http, watcher.url, prompt_id)
            return Failure("timeout", f"running longer than {self.stall_s}s")
        if settled.how == "lost":
            return Failure("lost", "the prompt is in neither the queue nor the history")
        return failure_of(settled.entry)

    async def _give_up(
        self, http: httpx.AsyncClient, watchers: dict[str, BackendWatcher], current: _Current
    ) -> None:
        if not current.prompt_id:
            return
        for watcher in watchers.values():
            watcher.forget(current.prompt_id)
        await _interrupt(http, current.url, current.prompt_id)


async def _interrupt(http: httpx.AsyncClient, url: str, prompt_id: str) -> None:
    """Interrupt the prompt if it runs, drop it if it waits (errors ignored: it may be gone)."""
    with contextlib.suppress(httpx.HTTPError):
        await http.post(f"{url}/interrupt", json={"prompt_id": prompt_id}, timeout=5)
        await http.post(f"{url}/queue", json={"delete": [prompt_id]}, timeout=5)
