"""The whole-loop bench's load generator: submits jobs at a rate through `JobClient` and
times each one from a plain NATS subscription to its events (stored events are also
delivered on core NATS at once, so no polling is timed)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from comfysim.workflows import txt2img
from contracts import subjects
from cr_client import JobClient
from tests.bench.loop_figures import DISPATCH, LATENCY_LIMIT_S, RUN, Step

STEPS = 2
WATCHED = (
    subjects.JOB_SUBMITTED,
    subjects.JOB_DISPATCHED,
    subjects.JOB_COMPLETED,
    subjects.JOB_FAILED,
)


def graph(seed: int) -> dict[str, Any]:
    """A small txt2img; a new seed per job, so the simulator never answers from its cache."""
    prompt = txt2img(steps=STEPS, width=512, height=512, prefix="loop")
    prompt["3"]["inputs"]["seed"] = seed
    return prompt


@dataclass
class Sent:
    """One submission: when it started, and its job id once `submit` returned."""

    at: float
    job_id: str | None = None
    error: bool = False


@dataclass
class Tracker:
    """Every job's first time of each watched event, by job id (loop clock)."""

    seen: dict[str, dict[str, float]] = field(default_factory=dict)
    seeds: itertools.count[int] = field(default_factory=itertools.count)

    async def watch(self, client: JobClient) -> None:
        """Subscribe to the watched families of every job."""
        loop = asyncio.get_running_loop()

        async def on_event(msg: Any) -> None:
            family, job_id = msg.subject.rsplit(".", 1)
            self.seen.setdefault(job_id, {}).setdefault(family, loop.time())

        for family in WATCHED:
            await client.bus.nc.subscribe(subjects.all_of(family), cb=on_event)

    def ended(self, sent: Sent) -> bool:
        """Whether the submission is over: refused, failed or completed."""
        if sent.error:
            return True
        events = self.seen.get(sent.job_id or "", {})
        return subjects.JOB_COMPLETED in events or subjects.JOB_FAILED in events

    async def run_step(self, client: JobClient, rate: float, seconds: float) -> Step:
        """Submit `rate` jobs/s for `seconds` (open loop: each submit is its own task), then
        wait for them; stop early once a job in flight is older than the limit."""
        loop = asyncio.get_running_loop()
        sent: list[Sent] = []
        tasks: list[asyncio.Task[None]] = []
        start, oldest = loop.time(), 0
        cut = False
        for index in range(round(rate * seconds)):
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
            oldest = self.oldest_open(sent, oldest)
            if oldest < len(sent) and loop.time() - sent[oldest].at > LATENCY_LIMIT_S:
                cut = True
                break
            sent.append(Sent(loop.time()))
            tasks.append(asyncio.create_task(self._submit(client, sent[-1])))
        while (oldest := self.oldest_open(sent, oldest)) < len(sent):
            if loop.time() - sent[oldest].at > LATENCY_LIMIT_S:
                break
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
        return self.summarise(rate, sent, cut)

    def oldest_open(self, sent: list[Sent], index: int) -> int:
        """The first submission from `index` on that has not ended (len(sent): none)."""
        while index < len(sent) and self.ended(sent[index]):
            index += 1
        return index

    async def _submit(self, client: JobClient, sent: Sent) -> None:
        try:
            sent.job_id = await client.submit(graph(next(self.seeds)))
        except Exception:  # noqa: BLE001 - any refusal is an error of the step
            sent.error = True

    def summarise(self, rate: float, sent: list[Sent], cut: bool) -> Step:
        """The step's figures from what was seen of each submission."""
        step = Step(rate, submitted=len(sent), cut_short=cut)
        step.stages = {DISPATCH: [], RUN: []}
        for one in sent:
            events = self.seen.get(one.job_id or "", {})
            if one.error or subjects.JOB_FAILED in events:
                step.failed += 1
            elif subjects.JOB_COMPLETED in events:
                done = events[subjects.JOB_COMPLETED]
                step.latencies.append(done - one.at)
                dispatched = events.get(subjects.JOB_DISPATCHED, done)
                step.stages[DISPATCH].append(dispatched - one.at)
                step.stages[RUN].append(done - dispatched)
        return step

    def open_jobs(self) -> int:
        """Jobs seen submitted but not yet ended (for draining)."""
        return sum(
            1
            for events in self.seen.values()
            if subjects.JOB_COMPLETED not in events and subjects.JOB_FAILED not in events
        )
