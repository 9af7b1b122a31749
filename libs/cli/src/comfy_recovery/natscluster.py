"""A local NATS cluster: N nats-server processes on loopback, routed to each other, JetStream
clustered (file store, ``sync_interval: always``), for R3 streams and KV on one machine.

Each node is a `NatsServer` (same binary, same store layout) with a ``cluster`` block naming
the routes to the others; `url` lists every node so clients fail over by themselves.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from comfy_recovery.natsd import NatsServer, free_port

CLUSTER_NAME = "cr-local"
CLUSTER_BLOCK = """\
cluster {{
  name: {cluster}
  listen: 127.0.0.1:{cluster_port}
  routes: [{routes}]
}}
"""


class ClusterNode(NatsServer):
    """One node of a local cluster: a `NatsServer` with routes to its peers."""

    def __init__(
        self,
        store_dir: Path,
        *,
        name: str,
        cluster_port: int,
        route_ports: list[int],
        port: int | None = None,
    ) -> None:
        super().__init__(store_dir, port=port, name=name)
        self.cluster_port = cluster_port
        self.route_ports = route_ports

    def config_text(self) -> str:
        """The single-server configuration plus the cluster block."""
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.route_ports)
        block = CLUSTER_BLOCK.format(
            cluster=CLUSTER_NAME, cluster_port=self.cluster_port, routes=routes
        )
        return super().config_text() + block

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def jsz(self, query: str = "") -> dict[str, Any]:
        """This node's JetStream monitoring report (``/jsz``)."""
        url = f"http://127.0.0.1:{self.monitor_port}/jsz{query}"
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            report: dict[str, Any] = json.load(response)
        return report


class NatsCluster:
    """`size` clustered nats-servers under `root` (``n1``, ``n2``, …), started together;
    the first listens for clients on `port` when given, the others on free ports."""

    def __init__(self, root: Path, size: int = 3, port: int | None = None) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one node, not {size}")
        self.root = Path(root)
        ports = [free_port() for _ in range(size)]
        self.nodes = [
            ClusterNode(
                self.root / f"n{i + 1}",
                name=f"n{i + 1}",
                cluster_port=cluster_port,
                route_ports=[p for p in ports if p != cluster_port],
                port=port if i == 0 else None,
            )
            for i, cluster_port in enumerate(ports)
        ]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (what ``CR_NATS_URL`` takes)."""
        return ",".join(node.url for node in self.nodes)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node, then wait until JetStream has a meta leader all nodes agree on."""
        try:
            for node in self.nodes:
                node.start(timeout)
            self.wait_meta_leader(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, kill: bool = False) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop(kill=kill)

    def node(self, name: str) -> ClusterNode:
        """The node called `name` (``n1``…)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in the cluster")

    def wait_meta_leader(self, timeout: float = 30.0) -> str:
        """Until every running node reports the same JetStream meta leader; return its name."""
        deadline = time.monotonic() + timeout
        while True:
            leaders = set()
            for node in self.nodes:
                if not node.alive():
                    continue
                try:
                    leaders.add(node.jsz().get("meta_cluster", {}).get("leader") or "")
                except (OSError, urllib.error.URLError, ValueError):
                    leaders.add("")
            if len(leaders) == 1 and "" not in leaders:
                return leaders.pop()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no JetStream meta leader after {timeout}s: {leaders}")
            time.sleep(0.1)

    def stream_leader(self, stream: str) -> str | None:
        """The node leading `stream` now, as a running node reports it (None: none yet)."""
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                report = node.jsz("?accounts=true&streams=true")
            except (OSError, urllib.error.URLError, ValueError):
                continue
            for account in report.get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    if detail.get("name") == stream:
                        leader = (detail.get("cluster") or {}).get("leader")
                        return str(leader) if leader else None
        return None

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
