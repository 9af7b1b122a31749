"""The ComfyUI edge under test: the submitter and the monitor in this process (their real
`run`), simulated backends, the session's nats-server, and readers of a job's events.

Used by the integration tests of both services; nothing here fakes our own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
)
from dataclasses import dataclass
from typing import Any, Final, cast

import httpx
from nats.js.errors import KeyNotFoundError, NotFoundError

from comfy_recovery.natsd import free_port
from comfysim import SimBackendSpec, SimCluster
from comfysim.workflows import txt2img
from contracts import (
    AnyEvent,
    BackendHealth,
    BusSettings,
    JobCompleted,
    JobDispatched,
    JobFailed,
    RecoveryPolicy,
    decode,
)
from contracts import subjects as subj
from contracts.codec import type_tag
from cr_client import Bus, JobClient
from monitor.app import run as run_monitor
from monitor.config import Settings as MonitorSettings
from submitter.app import run as run_submitter
from submitter.config import Settings as SubmitterSettings
from tests.support.stream import stored_events

QUIET_S: Final = 1.0
"""After an outcome: several checks and reconciles, so a stray second event would show."""
WAIT_S: Final = 30.0
"""Upper bound of any wait, so a broken edge fails a test instead of hanging it."""
OUTCOMES: Final = (JobCompleted, JobFailed)
ALLOWED: Final = frozenset(
    {
        "job.submitted",
        "job.dispatched",
        "job.progress",
        "job.interrupt_sent",
        "job.completed",
        "job.failed",
        "recovery.decided",
    }
)
"""Every event type one attempt may have without recovery running."""

Outcome = JobCompleted | JobFailed


def urls_of(sim: SimCluster) -> str:
    """``CR_COMFYUI_URLS`` for a simulated cluster."""
    return ",".join(f"{ident}={url}" for ident, url in sim.urls.items())


def monitor_settings(bus_settings: BusSettings, urls: str, **overrides: Any) -> MonitorSettings:
    """Short intervals, so stalls and losses show within seconds. The wedge window outlasts
    the deaf-socket reopen (10 s), so a wedge test also shows it survives a reconnect, and no
    slow start on a loaded machine passes for a wedge."""
    values: dict[str, Any] = {
        "nats": bus_settings,
        "comfyui_urls": urls,
        "health_interval_s": 0.3,
        "inventory_interval_s": 5.0,
        "reconcile_interval_s": 0.5,
        "check_interval_s": 0.2,
        "lost_grace_s": 1.0,
        "wedge_window_s": 15.0,
        "http_timeout_s": 3.0,
        "nvml": False,
        "health_port": free_port(),
        "log_level": "WARNING",
    }
    return MonitorSettings(**{**values, **overrides})


def submitter_settings(bus_settings: BusSettings, urls: str, **overrides: Any) -> SubmitterSettings:
    """Short timeouts; a stall window long enough that only the stall tests stall."""
    values: dict[str, Any] = {
        "nats": bus_settings,
        "comfyui_urls": urls,
        "connect_timeout_s": 1.0,
        "read_timeout_s": 5.0,
        "no_backend_retry_s": 0.5,
        "default_stall_window_s": 30.0,
        "health_port": free_port(),
        "log_level": "WARNING",
    }
    return SubmitterSettings(**{**values, **overrides})


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float = WAIT_S) -> Any:
    """Poll an async predicate until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(0.05)


async def wait_ready(port: int, task: asyncio.Task[None] | None = None) -> None:
    """Until the service answers 200 on /readyz (or its task died: then raise)."""
    async with httpx.AsyncClient(timeout=2) as http:

        async def ready() -> bool:
            if task is not None and task.done():
                task.result()
                raise RuntimeError("the service stopped before it was ready")
            with contextlib.suppress(httpx.TransportError):
                return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            return False

        await wait_for(ready)


Runner = Callable[[Any, asyncio.Event], Coroutine[Any, Any, None]]


@contextlib.asynccontextmanager
async def in_process(*services: tuple[Runner, Any]) -> AsyncIterator[asyncio.Event]:
    """Run services' real `run(settings, stop)` in this loop, side by side, until the block
    ends (started and stopped together: both waits overlap)."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run(settings, stop)) for run, settings in services]
    try:
        await asyncio.gather(
            *(wait_ready(s.health_port, t) for (_, s), t in zip(services, tasks, strict=True))
        )
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


async def last_health(bus: Bus, backend_id: str) -> BackendHealth | None:
    """The backend's health as the registry (KV) holds it."""
    kv = await bus.kv(subj.KV_BACKENDS)
    try:
        entry = await kv.get(f"{backend_id}.health")
    except KeyNotFoundError:
        return None
    event = decode(entry.value or b"")
    return event if isinstance(event, BackendHealth) else None


async def subject_events(bus: Bus, stream: str, subject: str) -> list[AnyEvent]:
    """Every stored event on `subject` (no waiting for more)."""
    return await stored_events(bus, stream, subject)


async def has_subject(bus: Bus, subject: str) -> bool:
    """Whether the events stream holds a message on `subject`."""
    try:
        await bus.js.get_last_msg(subj.EVENTS_STREAM, subject)
    except NotFoundError:
        return False
    return True


def workflow(steps: int = 4, seed: int = 42, prefix: str = "edge", **latent: int) -> dict[str, Any]:
    """The simulator's txt2img graph (checkpoint 4, sampler 3, decode 8, SaveImage 9)."""
    graph = txt2img(steps=steps, prefix=prefix, width=512, height=512)
    graph["3"]["inputs"]["seed"] = seed
    graph["5"]["inputs"].update(latent)
    return copy.deepcopy(graph)


@dataclass
class Edge:
    """A running edge: simulated backends, submitter and monitor, and a job client."""

    sim: SimCluster
    bus: Bus
    client: JobClient
    monitor: MonitorSettings
    submitter: SubmitterSettings

    async def submit(
        self,
        graph: dict[str, Any] | None = None,
        *,
        policy: RecoveryPolicy | None = None,
        expected_outputs: list[str] | None = None,
        job_id: str | None = None,
    ) -> str:
        """Publish a JobSubmitted (as any client does); the job id."""
        return await self.client.submit(
            graph or workflow(), policy=policy, expected_outputs=expected_outputs, job_id=job_id
        )

    async def first(self, job_id: str, *kinds: type[Any]) -> Any:
        """The job's first event of one of `kinds` (waits for it)."""
        events = cast(
            AsyncGenerator[AnyEvent, None], self.client.follow(job_id, until_terminal=False)
        )
        try:
            async with asyncio.timeout(WAIT_S):
                async for event in events:
                    if isinstance(event, kinds):
                        return event
        finally:
            await events.aclose()
        raise AssertionError("unreachable")

    async def dispatched(self, job_id: str) -> JobDispatched:
        """The job's job.dispatched (waits for it)."""
        event: JobDispatched = await self.first(job_id, JobDispatched)
        return event

    async def outcome(self, job_id: str) -> Outcome:
        """The job's one outcome; asserts nothing else was published for it."""
        await self.first(job_id, *OUTCOMES)
        await asyncio.sleep(QUIET_S)
        return only_outcome(await self.client.history(job_id))

    async def failure(self, job_id: str) -> JobFailed:
        """The job's one outcome, which must be a job.failed."""
        outcome = await self.outcome(job_id)
        assert isinstance(outcome, JobFailed), outcome
        return outcome

    async def completion(self, job_id: str) -> JobCompleted:
        """The job's one outcome, which must be a job.completed."""
        outcome = await self.outcome(job_id)
        assert isinstance(outcome, JobCompleted), outcome
        return outcome


def only_outcome(events: list[AnyEvent]) -> Outcome:
    """The single job.completed or job.failed among `events`, at most one dispatch, no strays."""
    types = [type_tag(type(e)) for e in events]
    outcomes = [e for e in events if isinstance(e, OUTCOMES)]
    assert len(outcomes) == 1, types
    assert types.count("job.dispatched") <= 1, types
    assert set(types) <= ALLOWED, types
    return outcomes[0]


@contextlib.asynccontextmanager
async def running_edge(
    bus: Bus,
    bus_settings: BusSettings,
    specs: Iterable[SimBackendSpec] = (),
    *,
    monitor: dict[str, Any] | None = None,
    submitter: dict[str, Any] | None = None,
    with_monitor: bool = True,
) -> AsyncIterator[Edge]:
    """Simulator, submitter and (unless `with_monitor` is false) monitor, all ready."""
    specs = list(specs) or [SimBackendSpec("b0", step_time_s=0.01)]
    async with SimCluster(specs) as sim:
        urls = urls_of(sim)
        m_settings = monitor_settings(bus_settings, urls, **(monitor or {}))
        s_settings = submitter_settings(bus_settings, urls, **(submitter or {}))
        services: list[tuple[Runner, Any]] = [(run_submitter, s_settings)]
        if with_monitor:
            services.append((run_monitor, m_settings))
        async with in_process(*services):
            if with_monitor:
                for spec in specs:
                    await wait_for(functools.partial(last_health, bus, spec.id))
            yield Edge(sim, bus, JobClient(bus, source="edge-test"), m_settings, s_settings)
