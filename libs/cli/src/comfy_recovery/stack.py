"""`comfy-recovery up`: local NATS, the five services supervised, and the simulator."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from comfy_recovery.natsd import NatsServer

SERVICES = ("submitter", "monitor", "classifier", "recovery", "analytics")
HEALTH_BASE_PORT = 9461


@dataclass
class StackConfig:
    """Where things live and what to start."""

    data_dir: Path
    nats_url: str | None = None
    nats_port: int = 4222
    comfyui_urls: str = ""
    simulator_backends: int = 2
    health_base_port: int = HEALTH_BASE_PORT
    services: Sequence[str] = SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> StackConfig:
        """Read ``CR_DATA_DIR``, ``CR_NATS_URL``, ``CR_COMFYUI_URLS``, ``CR_SIM_BACKENDS``."""
        return cls(
            data_dir=Path(os.environ.get("CR_DATA_DIR", ".data")).resolve(),
            nats_url=os.environ.get("CR_NATS_URL") or None,
            nats_port=int(os.environ.get("CR_LOCAL_NATS_PORT", "4222")),
            comfyui_urls=os.environ.get("CR_COMFYUI_URLS", ""),
            simulator_backends=int(os.environ.get("CR_SIM_BACKENDS", "2")),
            health_base_port=int(os.environ.get("CR_HEALTH_BASE_PORT", str(HEALTH_BASE_PORT))),
        )


SIMULATOR_MODULE = "comfysim"
MISSING_SIMULATOR = (
    "no CR_COMFYUI_URLS given and the ComfyUI simulator is not installed: "
    "set CR_COMFYUI_URLS=id=http://host:8188,... or install it (`make install`, or "
    "`pip install ./tools/comfysim`)"
)


def simulator_installed() -> bool:
    """Whether the development simulator package can be started."""
    return importlib.util.find_spec(SIMULATOR_MODULE) is not None


class Stack:
    """Starts and supervises the local system; `stop()` takes it down in reverse order."""

    def __init__(
        self, config: StackConfig, *, echo: bool = True, log_file: Path | None = None
    ) -> None:
        self.config = config
        self.echo = echo
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log = log_file.open("a", buffering=1) if log_file is not None else None
        self.nats: NatsServer | None = None
        self.nats_url = config.nats_url or ""
        self.comfyui_urls = config.comfyui_urls
        self.simulator: asyncio.subprocess.Process | None = None
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.restarts: dict[str, int] = {}
        self._stopping = False
        self._disabled: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def say(self, text: str) -> None:
        """Print a stack line (stderr, so stdout stays for results)."""
        self._emit(f"[stack] {text}")

    def _emit(self, line: str) -> None:
        if self.echo:
            print(line, file=sys.stderr, flush=True)
        if self.log is not None:
            self.log.write(line + "\n")

    async def start(self) -> None:
        """NATS, the simulator if no ComfyUI is configured, then every service."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.nats_url:
            self.nats = NatsServer(self.config.data_dir / "nats", port=self.config.nats_port)
            await asyncio.to_thread(self.nats.start)
            self.nats_url = self.nats.url
            self.say(f"nats-server (JetStream, sync_interval: always) at {self.nats_url}")
        if not self.comfyui_urls:
            self.comfyui_urls = await self._start_simulator()
        for index, name in enumerate(self.config.services):
            self._tasks.append(asyncio.create_task(self._supervise(name, index)))
        (self.config.data_dir / "stack.json").write_text(json.dumps(self.describe()))

    def describe(self) -> dict[str, object]:
        """What is running where (written to ``<data>/stack.json``)."""
        base = self.config.health_base_port
        return {
            "nats_url": self.nats_url,
            "comfyui_urls": self.comfyui_urls,
            "pid": os.getpid(),
            "health": {
                s: f"http://127.0.0.1:{base + i}" for i, s in enumerate(self.config.services)
            },
        }

    def env(self, name: str, index: int) -> dict[str, str]:
        """The environment of one service process."""
        env = dict(os.environ)
        env.update(self.config.extra_env)
        env["CR_NATS_URL"] = self.nats_url
        env["CR_COMFYUI_URLS"] = self.comfyui_urls
        env[f"CR_{name.upper()}_HEALTH_PORT"] = str(self.config.health_base_port + index)
        env.setdefault("CR_ANALYTICS_CHDB_PATH", str(self.config.data_dir / "analytics"))
        env.setdefault("CR_SUBMITTER_API_PORT", "8080")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def _start_simulator(self) -> str:
        if not simulator_installed():
            raise RuntimeError(MISSING_SIMULATOR)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            SIMULATOR_MODULE,
            "--backends",
            str(self.config.simulator_backends),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self.simulator = proc
        urls: list[str] = []
        assert proc.stdout is not None
        while len(urls) < self.config.simulator_backends:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            if not line:
                raise RuntimeError("the simulator exited before it was ready")
            if line.startswith("backend "):
                _, ident, url = line.split()
                urls.append(f"{ident}={url}")
        self._tasks.append(asyncio.create_task(self._pipe("simulator", proc)))
        self.say(f"ComfyUI simulator: {', '.join(urls)}")
        return ",".join(urls)

    async def _supervise(self, name: str, index: int) -> None:
        delay = 0.5
        while not self._stopping and name not in self._disabled:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                name,
                env=self.env(name, index),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs[name] = proc
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
        width = max(len(s) for s in (*self.config.services, "simulator"))
        async for raw in proc.stdout:
            self._emit(f"{name:<{width}} | {raw.decode(errors='replace').rstrip()}")

    async def kill(self, name: str) -> None:
        """SIGKILL one service (the supervisor starts it again), as a crash would."""
        proc = self.procs.get(name)
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def stop_service(self, name: str) -> None:
        """Stop one service cleanly (SIGTERM) and keep it stopped until `start_service`."""
        self._disabled.add(name)
        proc = self.procs.get(name)
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()

    def start_service(self, name: str) -> None:
        """Start (and supervise again) a service stopped by `stop_service`."""
        self._disabled.discard(name)
        index = list(self.config.services).index(name)
        self._tasks.append(asyncio.create_task(self._supervise(name, index)))

    async def stop(self) -> None:
        """SIGTERM every service (they finish their batch), then the simulator, then NATS."""
        self._stopping = True
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
        if self.simulator is not None and self.simulator.returncode is None:
            self.simulator.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.simulator.wait(), 10)
            except TimeoutError:
                self.simulator.kill()
        for task in self._tasks:
            task.cancel()
        if self.nats is not None:
            await asyncio.to_thread(self.nats.stop)
        (self.config.data_dir / "stack.json").unlink(missing_ok=True)
        self.say("stopped")
        if self.log is not None:
            self.log.close()


async def run_until_interrupted(stack: Stack) -> None:
    """`up`: start, wait for Ctrl-C or SIGTERM, stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stack.start()
    stack.say("up; Ctrl-C stops everything")
    await stop.wait()
    await stack.stop()
