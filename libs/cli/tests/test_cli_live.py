"""The CLI against a live stack started the way `comfy-recovery up` starts it (own
nats-server on a moved port, the simulator as an installed module, the five services):
clean JSON on stdout, demo reusing the running stack, nats-server restarted after kill -9."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator

import pytest

from comfy_recovery import stackfile
from comfy_recovery.demo import base_workflow
from comfy_recovery.natsd import free_port, free_port_block
from comfy_recovery.stack import Stack, StackConfig
from contracts import BusSettings, JobStatus
from contracts.job import JobProgressed
from cr_client import JobClient
from libs.cli.tests.clirun import run_with
from tests.support.system import FAST_ENV, wait_for, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data = tmp_path_factory.mktemp("stack")
    config = StackConfig(
        data_dir=data,
        nats_port=free_port(),
        health_base_port=free_port_block(8),
        simulator_backends=1,
        extra_env={**FAST_ENV, "CR_SUBMITTER_API_PORT": str(free_port())},
    )
    running = Stack(config, echo=False, log_file=data / "stack.log")
    await running.start()
    try:
        await wait_ready(running)
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[JobClient]:
    async with await JobClient.connect(BusSettings(url=stack.nats_url), source="test") as c:
        yield c


async def cli(stack: Stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed command with no CR_NATS_URL: it must find the stack by its file."""
    env = {k: v for k, v in os.environ.items() if k != "CR_NATS_URL"}
    env["CR_DATA_DIR"] = str(stack.config.data_dir)
    return await run_with(env, *args, timeout=timeout)


async def completed_job(client: JobClient) -> str:
    job_id = await client.submit(base_workflow())
    result = await client.result(job_id, timeout=120)
    assert result.status == JobStatus.COMPLETED
    return job_id


async def test_every_json_output_is_json_only(stack: Stack, client: JobClient) -> None:
    job_id = await completed_job(client)
    for verbose in ([], ["-v"]):
        status = await cli(stack, *verbose, "status", job_id, "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["status"] == "COMPLETED"

        history = await cli(stack, "history", job_id, "--json", *verbose)
        assert history.returncode == 0, history.stderr
        lines = history.stdout.splitlines()
        events = [json.loads(line) for line in lines]
        assert len(events) == len(await client.history(job_id)) >= 3
        assert {e["type"] for e in events} >= {"job.submitted", "job.completed"}

        stats = await cli(stack, *verbose, "stats", "--json")
        assert stats.returncode == 0, stats.stderr
        assert isinstance(json.loads(stats.stdout), dict)
        if verbose:  # the logs are there, on stderr
            assert "nats." in status.stderr + history.stderr + stats.stderr


async def test_history_reads_as_words(stack: Stack, client: JobClient) -> None:
    job_id = await completed_job(client)
    history = await cli(stack, "history", job_id)
    assert history.returncode == 0, history.stderr
    assert "submitted" in history.stdout and "completed on" in history.stdout
    assert "JobSubmitted" not in history.stdout


async def test_unknown_job_and_ineligible_action_have_their_exit_codes(
    stack: Stack, client: JobClient
) -> None:
    for command in (["status", "no-such-job"], ["cancel", "no-such-job"], ["retry", "no-such-job"]):
        missing = await cli(stack, *command)
        assert missing.returncode == 4, missing.stderr
        assert missing.stdout == "" and "no job no-such-job" in missing.stderr
    job_id = await completed_job(client)
    for command in (["cancel", job_id], ["retry", job_id]):
        refused = await cli(stack, *command)
        assert refused.returncode == 5, refused.stdout + refused.stderr
        assert refused.stdout == "" and "refused: " in refused.stderr
        assert "COMPLETED" in refused.stderr and "Traceback" not in refused.stderr
    forced = await cli(stack, "retry", job_id, "--force")
    assert forced.returncode == 0 and forced.stdout == "ok\n", forced.stderr


async def test_demo_uses_the_running_stack_and_leaves_its_file(stack: Stack) -> None:
    demo = await cli(stack, "demo", timeout=400)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"using the stack of pid {os.getpid()}" in demo.stderr
    assert "starting the local stack" not in demo.stderr
    assert stackfile.live(stack.config.data_dir) is not None
    rows = [line.split() for line in demo.stdout.splitlines() if "COMPLETED" in line]
    assert rows, demo.stdout
    job_ids = [word for word in rows[0] if len(word) == 36 and word.count("-") == 4]
    assert job_ids, rows[0]
    history = await cli(stack, "history", job_ids[0])
    assert history.returncode == 0, history.stderr


async def test_nats_killed_is_restarted_and_jobs_complete(stack: Stack, client: JobClient) -> None:
    assert stack.nats is not None and stack.nats.proc is not None
    long_job = copy.deepcopy(base_workflow())
    long_job["3"]["inputs"]["steps"] = 600  # about 6 s on the simulator: running at the kill
    before = await client.submit(long_job)
    async for event in client.follow(before):
        if isinstance(event, JobProgressed):
            break
    restarts = stack.restarts.get("nats-server", 0)
    killed = stack.nats.proc.pid
    started = asyncio.get_running_loop().time()
    os.kill(killed, signal.SIGKILL)

    async def restarted() -> bool:
        proc = stack.nats.proc if stack.nats else None
        return stack.restarts.get("nats-server", 0) > restarts and proc is not None

    await wait_for(restarted, timeout=60, every=0.05)
    took = asyncio.get_running_loop().time() - started
    print(f"nats-server restarted {took:.2f}s after kill -9")  # reported, not asserted
    assert stack.nats.proc.pid != killed
    assert stack.nats.url == stackfile.read(stack.config.data_dir)["nats_url"]  # type: ignore[index]
    log = (stack.config.data_dir / "stack.log").read_text()
    assert "nats-server exited with -9; restarting on the same store" in log
    after = await client.submit(base_workflow())
    for job_id in (before, after):
        result = await client.result(job_id, timeout=180)
        assert result.status == JobStatus.COMPLETED, log[-5000:]
