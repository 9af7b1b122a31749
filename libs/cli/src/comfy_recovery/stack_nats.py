"""The NATS of `comfy-recovery up`: one nats-server or a local cluster, restarted on the
same port and store whenever a node dies (kill -9 too)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from comfy_recovery.natscluster import NatsCluster
from comfy_recovery.natsd import NatsServer

NATS_POLL_S = 0.25


class LocalNats:
    """The nats-server processes the stack runs: `start`, `supervise`, `stop`."""

    def __init__(
        self,
        store: Path,
        size: int,
        port: int | None,
        *,
        say: Callable[[str], None],
        restarted: Callable[[], None],
    ) -> None:
        self.clustered = size > 1
        self.server: NatsServer | None = None
        self.cluster: NatsCluster | None = None
        if self.clustered:
            self.cluster = NatsCluster(store, size, port)
        else:
            self.server = NatsServer(store, port=port)
        self.say = say
        self.restarted = restarted
        self._starting: asyncio.Future[NatsServer | NatsCluster] | None = None

    @property
    def url(self) -> str:
        """The client URL (every node's, in a cluster)."""
        return self.cluster.url if self.cluster is not None else self._single().url

    def _single(self) -> NatsServer:
        assert self.server is not None
        return self.server

    async def start(self) -> None:
        """Start the server or every node; shielded: a cancelled start (Ctrl-C) must not
        leave a server starting unseen (`stop` waits for it)."""
        starter = self.cluster.start if self.cluster is not None else self._single().start
        self._starting = asyncio.ensure_future(asyncio.to_thread(starter))
        await asyncio.shield(self._starting)

    def nodes(self) -> list[NatsServer]:
        """The nats-server processes (one, or the cluster's nodes)."""
        if self.cluster is not None:
            return list(self.cluster.nodes)
        return [self._single()]

    def children(self) -> dict[str, int]:
        """The running nodes' pids by name (``nats-server``, or ``nats-server-<node>``)."""
        return {
            f"nats-server-{node.name}" if self.clustered else "nats-server": node.proc.pid
            for node in self.nodes()
            if node.proc is not None and node.proc.poll() is None
        }

    async def supervise(self, stopping: Callable[[], bool]) -> None:
        """Restart each node that died, on its port and store, until `stopping()`."""
        while not stopping():
            await asyncio.sleep(NATS_POLL_S)
            for node in self.nodes():
                if not stopping():
                    await self._restart_if_dead(node)

    async def _restart_if_dead(self, node: NatsServer) -> None:
        proc = node.proc
        if proc is None or proc.poll() is None:
            return
        what = f"nats-server {node.name}" if self.clustered else "nats-server"
        self.say(f"{what} exited with {proc.returncode}; restarting on the same store")
        try:
            await asyncio.to_thread(node.restart)
        except (OSError, RuntimeError, TimeoutError) as exc:
            self.say(f"{what} did not restart ({exc}); trying again")
            return
        self.say(f"{what} restarted at {node.url}")
        self.restarted()

    async def stop(self) -> None:
        """Stop every node (after a start still in flight)."""
        if self._starting is not None:
            await asyncio.wait([self._starting])
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.stop)
        elif self.server is not None:
            await asyncio.to_thread(self.server.stop)
