"""One simulated ComfyUI server: its listener, its prompt worker, restarts and outages."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from comfysim.accounting import GpuLedger
from comfysim.app import build_app
from comfysim.catalogue import Catalogue
from comfysim.executor import PromptRun
from comfysim.faults import FaultBook
from comfysim.files import FileStore
from comfysim.inventory import BackendInventory
from comfysim.memory import GpuMemory
from comfysim.node_run import RunServices
from comfysim.process import ProcessState
from comfysim.prompt_control import PromptControl
from comfysim.spec import FaultSpec, SimBackendSpec

log = logging.getLogger("comfysim.server")

REPLY_GRACE_S = 0.05
"""How long an HTTP-triggered outage waits so that the triggering request gets its reply."""


class SimBackend(PromptControl):
    """A ComfyUI server in this process: state that survives restarts, and one process life."""

    def __init__(self, spec: SimBackendSpec) -> None:
        self.spec = spec
        self.files = FileStore()
        self.faults = FaultBook()
        self.executed: collections.Counter[str] = collections.Counter()
        self.crashes = 0
        self.ledger = GpuLedger(spec.id)
        self.inventory = BackendInventory(spec.models, self.files, self.hidden_models)
        self.catalogue = Catalogue(spec, self.inventory)
        super().__init__()
        self.proc = self._new_process()
        self.port = spec.port
        self.up = False
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outage = asyncio.Lock()

    @property
    def id(self) -> str:
        """The backend id from its spec."""
        return self.spec.id

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen, start the prompt worker, arm the spec's faults."""
        self._runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False)
        await self._runner.setup()
        await self._listen()
        self._start_worker()
        for fault in self.spec.faults:
            self.inject(fault)

    async def stop(self) -> None:
        """Stop everything this backend started."""
        for task in [*self._tasks, *([self._worker] if self._worker else [])]:
            task.cancel()
        self.proc.hub.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
        self.up = False

    def inject(self, fault: FaultSpec) -> None:
        """Arm a fault; `refuse` takes the listener down at once for params.down_s."""
        if fault.kind == "refuse":
            self.faults.fire(self.faults.add(fault), path="*")
            self._spawn(self.refuse(float(fault.params.get("down_s", 1.0)), REPLY_GRACE_S))
        else:
            self.faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.faults.clear()

    def schedule_crash(self, down_s: float = 0.0, grace_s: float = REPLY_GRACE_S) -> None:
        """Crash soon (after the current reply), in a task of its own."""
        self._spawn(self.crash(down_s, grace_s))

    async def crash(self, down_s: float = 0.0, grace_s: float = 0.0) -> None:
        """A process restart: queue, history, cache, sockets, temp files lost; refused meanwhile."""
        async with self._outage:
            await asyncio.sleep(grace_s)
            self.crashes += 1
            log.warning("backend %s crashed (down %.2fs)", self.id, down_s)
            if self._worker is not None:
                self._worker.cancel()
            await self._go_down()
            self.files.wipe("temp")
            self.proc = self._new_process()
            await asyncio.sleep(down_s)
            await self._listen()
            self._start_worker()

    async def refuse(self, down_s: float, grace_s: float = 0.0) -> None:
        """Close the listener and all connections for `down_s`; the process and its jobs live on."""
        async with self._outage:
            await asyncio.sleep(grace_s)
            await self._go_down()
            await asyncio.sleep(down_s)
            await self._listen()

    def services(self) -> RunServices:
        """What a prompt run needs, bound to the current process life."""
        return RunServices(
            self.spec,
            self.catalogue,
            self.files,
            self.inventory,
            self.faults,
            self.proc,
            self.schedule_crash_now,
        )

    def schedule_crash_now(self, down_s: float) -> None:
        """Crash from inside a running job (the `crash` fault)."""
        self.schedule_crash(down_s, grace_s=0.0)

    def ram_free(self) -> int:
        """Free host RAM as /system_stats reports it."""
        return int(self.spec.ram_total * 0.85)

    def sim_state(self) -> dict[str, Any]:
        """GET /sim/state."""
        gpu, queue = self.proc.gpu, self.proc.queue
        return {
            "id": self.id,
            "url": self.url,
            "up": self.up,
            "crashes": self.crashes,
            "wedged": self.proc.wedged,
            "prompts_accepted": self.accepted,
            "prompts_executed": dict(self.executed),
            "interrupts": list(self.interrupts),
            "free_calls": list(self.free_calls),
            "fragmentation_bytes": gpu.fragmentation,
            "vram_total": gpu.total,
            "vram_usable": gpu.usable,
            "vram_free": gpu.reported_free(),
            "queue_remaining": queue.remaining(),
            "running_prompt_id": queue.running.prompt_id if queue.running else None,
            "cache_entries": len(self.proc.cache),
            "faults": self.faults.listing(),
            "faults_fired": list(self.faults.fired),
        }

    def _new_process(self) -> ProcessState:
        return ProcessState(gpu=GpuMemory(self.spec.vram_total))

    async def _listen(self) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._site, self.port, self.up = site, site.port, True

    async def _go_down(self) -> None:
        self.up = False
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for connection in self._runner.server.connections:
                connection.force_close()
        self.proc.hub.drop_all()

    def _start_worker(self) -> None:
        self._worker = asyncio.create_task(self._work(self.proc))
        self._worker.add_done_callback(_log_failure)

    async def _work(self, proc: ProcessState) -> None:
        while True:
            item = await proc.queue.take()
            proc.broadcast_status()
            models = self.catalogue.model_values
            if proc.wedged or self.faults.take("wedged", item.prompt_id, item.prompt, models):
                proc.wedged = True
                log.error("Exception in thread prompt_worker: the worker is wedged")
                await asyncio.Event().wait()
            slow = self.faults.take("ws_slow", item.prompt_id, item.prompt, models)
            proc.hub.delay_s = float(slow.spec.params.get("delay_s", 0.5)) if slow else 0.0
            self.executed[item.prompt_id] += 1
            run = self.ledger.open(item.prompt_id, item.prompt)
            try:
                await PromptRun(self.services(), item).execute()
            finally:
                proc.hub.delay_s = 0.0
                self.ledger.close(run, proc.queue.history.get(item.prompt_id))
            self.apply_free(proc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if task.exception() is not None:
            log.error("simulator task failed", exc_info=task.exception())
