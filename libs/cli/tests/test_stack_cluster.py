"""`comfy-recovery up --cluster 3`: three clustered nats-servers supervised like the single
one (a node killed with -9 is restarted on its store), the services told to use R3."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from comfy_recovery import stackfile
from comfy_recovery.natsd import free_port, free_port_block
from comfy_recovery.stack import Stack, StackConfig
from contracts import subjects as subj
from tests.support.system import wait_for

pytestmark = [pytest.mark.integration]
COMMAND = str(Path(sys.executable).with_name("comfy-recovery"))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = StackConfig(
        data_dir=tmp_path / "data",
        nats_port=free_port(),
        nats_cluster=3,
        comfyui_urls="b0=http://127.0.0.1:9",  # no simulator: only recovery runs
        health_base_port=free_port_block(8),
        services=("recovery",),
    )
    stack = Stack(config, echo=False, log_file=tmp_path / "data" / "stack.log")
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


async def events_replicas(url: str) -> int:
    nc = await nats.connect(url.split(","))
    try:
        info = await nc.jetstream().stream_info(subj.EVENTS_STREAM)
        return info.config.num_replicas or 0
    except (nats.js.errors.NotFoundError, nats.errors.TimeoutError):
        return 0  # not created yet, or the cluster is still electing a leader
    finally:
        await nc.close()


async def test_a_cluster_of_three_runs_r3_and_a_killed_node_is_restarted(stack: Stack) -> None:
    described = stackfile.read(stack.config.data_dir)
    assert described is not None
    assert len(str(described["nats_url"]).split(",")) == 3
    assert stack.nats_url.startswith(f"nats://127.0.0.1:{stack.config.nats_port},")
    nodes = {n: p for n, p in described["children"].items() if n.startswith("nats-server")}
    assert sorted(nodes) == ["nats-server-n1", "nats-server-n2", "nats-server-n3"]

    async def created() -> int:
        return await events_replicas(stack.nats_url)

    assert await wait_for(created, timeout=60) == 3  # recovery ensured the streams, R3

    os.kill(nodes["nats-server-n2"], signal.SIGKILL)

    async def restarted() -> bool:
        return stack.restarts.get("nats-server", 0) == 1 and "nats-server-n2" in stack.children()

    await wait_for(restarted, timeout=60, every=0.05)
    assert stack.children()["nats-server-n2"] != nodes["nats-server-n2"]
    log = (stack.config.data_dir / "stack.log").read_text()
    assert "nats-server n2 exited with -9; restarting on the same store" in log
    assert await wait_for(created, timeout=60) == 3  # answered again once a leader is elected
    log = (stack.config.data_dir / "stack.log").read_text()
    assert stack.restarts.get("recovery", 0) == 0, log[-6000:]


def test_cluster_is_refused_with_an_external_nats(tmp_path: Path) -> None:
    env = {**os.environ, "CR_NATS_URL": "nats://127.0.0.1:4222", "CR_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [COMMAND, "up", "--cluster", "3"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "unset CR_NATS_URL" in done.stderr
    assert done.stdout == ""
