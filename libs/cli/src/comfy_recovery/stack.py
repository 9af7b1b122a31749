"""`comfy-recovery up`: local NATS, the five services supervised, and the simulator."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from comfy_recovery import stackfile
from comfy_recovery.leftovers import end_leftovers
from comfy_recovery.natsd import NatsServer
from comfy_recovery.procs import end_process, read_simulator_urls, spawn_module
from comfy_recovery.stack_nats import LocalNats
from comfy_recovery.stackconfig import (
    MISSING_SIMULATOR,
    SERVICES,
    StackConfig,
    StackConfigError,
    Unit,
    simulator_installed,
)

__all__ = ["SERVICES", "Stack", "StackConfig", "StackConfigError", "StackRunningError"]

STOP_GRACE_S = 15.0


class StackRunningError(RuntimeError):
    """Another live stack already owns this data directory."""


class Stack:
    """Starts and supervises the local system; `stop()` takes it down in reverse order.

    Every exit path stops what was started: a failing `start()` stops the parts already
    running before it raises, and nats-server, the simulator and each service run in their
    own process group, which `stop()` ends as a whole.
    """

    def __init__(
        self, config: StackConfig, *, echo: bool = True, log_file: Path | None = None
    ) -> None:
        self.config = config
        self.echo = echo
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log = log_file.open("a", buffering=1) if log_file is not None else None
        self.local_nats: LocalNats | None = None
        self.nats_url = config.nats_url or ""
        self.comfyui_urls = config.comfyui_urls
        self.simulator: asyncio.subprocess.Process | None = None
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.restarts: dict[str, int] = {}
        self.failed = asyncio.Event()
        self._stopping = False
        self._stopped = False
        self._disabled: set[str] = set()
        self._supervisors: dict[str, asyncio.Task[None]] = {}
        self._nats_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def nats(self) -> NatsServer | None:
        """The one nats-server the stack runs (None when external or clustered)."""
        return self.local_nats.server if self.local_nats is not None else None

    def say(self, text: str) -> None:
        """Print a stack line (stderr, so stdout stays for results)."""
        self._emit(f"[stack] {text}")

    def _emit(self, line: str) -> None:
        if self.echo:
            print(line, file=sys.stderr, flush=True)
        if self.log is not None and not self.log.closed:
            self.log.write(line + "\n")

    async def start(self) -> None:
        """NATS, the simulator if no ComfyUI is configured, then every service.

        Raises:
            StackRunningError: a live stack already owns the data directory.
        """
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        other = stackfile.live(self.config.data_dir)
        if other is not None and other.get("pid") != os.getpid():
            raise StackRunningError(
                f"a stack already runs from {self.config.data_dir} (pid {other.get('pid')}, "
                f"NATS {other.get('nats_url')}); stop it first or set CR_DATA_DIR"
            )
        ended = await end_leftovers(self.config.data_dir)
        if ended:
            self.say(f"ended what a killed stack had left running: {', '.join(ended)}")
        try:
            await self._start_parts()
        except BaseException:
            await self.stop()
            raise

    async def _start_parts(self) -> None:
        if not self.nats_url:
            size = self.config.nats_cluster
            nats = LocalNats(
                self.config.data_dir / "nats",
                size,
                self.config.nats_port,
                say=self.say,
                restarted=self._nats_restarted,
            )
            self.local_nats = nats
            await nats.start()
            self.nats_url = nats.url
            nodes = f"{size}-node cluster, " if nats.clustered else ""
            self.say(f"nats-server ({nodes}JetStream, sync_interval: always) at {self.nats_url}")
            supervisor = nats.supervise(lambda: self._stopping)
            self._nats_task = self._watch(supervisor, "nats-server supervisor")
            self._record()
        if not self.comfyui_urls:
            self.comfyui_urls = await self._start_simulator()
        for unit in self.config.units():
            self._supervisors[unit.key] = self._watch(self._supervise(unit), unit.key)
        self._record()

    def _nats_restarted(self) -> None:
        self.restarts["nats-server"] = self.restarts.get("nats-server", 0) + 1
        self._record()

    def _record(self) -> None:
        """Rewrite the stack file (what runs where, and the children's process groups)."""
        if not self._stopping:
            stackfile.write(self.config.data_dir, self.describe())

    def _watch(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Run a supervising task; if it dies of a bug, say so and flag the stack failed."""
        task = asyncio.create_task(coro)
        self._tasks.append(task)

        def done(t: asyncio.Task[None]) -> None:
            if not t.cancelled() and t.exception() is not None and not self._stopping:
                self.say(f"{what} failed: {t.exception()!r}")
                self.failed.set()

        task.add_done_callback(done)
        return task

    def describe(self) -> dict[str, object]:
        """What is running where (written to ``<data>/stack.json``)."""
        base = self.config.health_base_port
        return {
            "nats_url": self.nats_url,
            "comfyui_urls": self.comfyui_urls,
            "pid": os.getpid(),
            "children": self.children(),
            "simulator_module": self.config.simulator_module,
            "health": {
                u.key: f"http://127.0.0.1:{base + u.port_index}" for u in self.config.units()
            },
        }

    def children(self) -> dict[str, int]:
        """The running children by name (each leads its own process group)."""
        found = {name: proc.pid for name, proc in self.procs.items() if proc.returncode is None}
        if self.simulator is not None and self.simulator.returncode is None:
            found["simulator"] = self.simulator.pid
        if self.local_nats is not None:
            found.update(self.local_nats.children())
        return found

    def env(self, unit: Unit) -> dict[str, str]:
        """The environment of one service process."""
        env = dict(os.environ)
        env.update(self.config.extra_env)
        env["CR_NATS_URL"] = self.nats_url
        env["CR_COMFYUI_URLS"] = self.comfyui_urls
        prefix = f"CR_{unit.service.upper()}_"
        env[f"{prefix}HEALTH_PORT"] = str(self.config.health_base_port + unit.port_index)
        env.setdefault("CR_ANALYTICS_CHDB_PATH", str(self.config.data_dir / "analytics"))
        env.setdefault("CR_SUBMITTER_API_PORT", "8080")
        if self.config.instances > 1:
            env[f"{prefix}INSTANCE"] = f"{socket.gethostname()}-{unit.instance}"
            if unit.instance > 1:  # one public API port: the first submitter serves it
                del env["CR_SUBMITTER_API_PORT"]
        env["PYTHONUNBUFFERED"] = "1"
        if self.config.nats_cluster > 1:  # R3 streams and KV on a 3-node cluster
            env.setdefault("CR_NATS_REPLICAS", str(min(self.config.nats_cluster, 5)))
        return env

    async def _start_simulator(self) -> str:
        module = self.config.simulator_module
        if not simulator_installed(module):
            raise RuntimeError(MISSING_SIMULATOR)
        backends = self.config.simulator_backends
        proc = await spawn_module(module, "--backends", str(backends))
        self.simulator = proc
        self._record()
        urls = await read_simulator_urls(proc, backends)
        self._watch(self._follow_simulator(proc), "simulator")
        self.say(f"ComfyUI simulator: {', '.join(urls)}")
        return ",".join(urls)

    async def _follow_simulator(self, proc: asyncio.subprocess.Process) -> None:
        """Show its output; say so if it dies (its ports were handed to the services)."""
        await self._pipe("simulator", proc)
        code = await proc.wait()
        if not self._stopping:
            self.say(f"the simulator exited with {code}; restart the stack to bring it back")

    async def _supervise(self, unit: Unit) -> None:
        name, delay = unit.key, 0.5
        while not self._stopping and name not in self._disabled:
            proc = await spawn_module(unit.service, env=self.env(unit))
            self.procs[name] = proc
            self._record()
            if self._stopping or name in self._disabled:  # stopped during the spawn
                await end_process(proc, STOP_GRACE_S)
                return
            started = asyncio.get_running_loop().time()
            await self._pipe(name, proc)
            code = await proc.wait()
            if self._stopping or name in self._disabled:
                return
            self.restarts[name] = self.restarts.get(name, 0) + 1
            self.say(f"{name} exited with {code}; restarting")
            if asyncio.get_running_loop().time() - started > 30:
                delay = 0.5
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _pipe(self, name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        width = max(len(s) for s in (*(u.key for u in self.config.units()), "simulator"))
        async for raw in proc.stdout:
            self._emit(f"{name:<{width}} | {raw.decode(errors='replace').rstrip()}")

    async def kill(self, name: str) -> None:
        """SIGKILL one service (the supervisor starts it again), as a crash would."""
        proc = self.procs.get(name)
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def stop_service(self, name: str) -> None:
        """Stop one service cleanly (SIGTERM) and keep it stopped until `start_service`;
        returns once its supervisor has ended (a `start_service` right after must not find
        the old one still about to restart it: two supervisors, two processes)."""
        self._disabled.add(name)
        proc = self.procs.get(name)
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        supervisor = self._supervisors.get(name)
        if supervisor is not None:
            await asyncio.wait([supervisor])

    def start_service(self, name: str) -> None:
        """Start (and supervise again) a service stopped by `stop_service`."""
        self._disabled.discard(name)
        unit = next(u for u in self.config.units() if u.key == name)
        self._supervisors[name] = self._watch(self._supervise(unit), name)

    async def stop(self) -> None:
        """SIGTERM every service (they finish their batch), then the simulator, then NATS.

        Safe to call on a half-started stack and more than once.
        """
        if self._stopped:
            return
        self._stopping = True
        procs = list(self.procs.values())
        await asyncio.gather(*(end_process(p, STOP_GRACE_S) for p in procs))
        if self._supervisors:  # a spawn in flight ends itself once it sees _stopping
            await asyncio.wait(self._supervisors.values(), timeout=STOP_GRACE_S + 5)
        await asyncio.gather(*(end_process(p, 5) for p in self.procs.values()))
        if self.simulator is not None:
            await end_process(self.simulator, 10)
        if self._nats_task is not None:  # returns within one poll (or one restart)
            await asyncio.wait([self._nats_task], timeout=30)
        if self.local_nats is not None:
            await self.local_nats.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        stackfile.remove_if_mine(self.config.data_dir)
        self._stopped = True
        if self.local_nats is not None or self.simulator is not None or self.procs:
            self.say("stopped")
        if self.log is not None:
            self.log.close()
