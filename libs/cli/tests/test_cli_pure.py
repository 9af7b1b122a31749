"""Pure parts of the CLI not reached by the other unit tests: the campaign's text report,
the leftover-process detection (on this test's own process), the nats-server config, the
``--param`` values and the decision lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from comfy_recovery import leftovers, render
from comfy_recovery.campaign import report
from comfy_recovery.campaign.metrics import ABORTED, COMPLETED, JobRun, PromptRecord, by_kind, judge
from comfy_recovery.campaign.mix import CLEAN, KINDS, NON_RECOVERABLE, RECOVERABLE, JobSpec
from comfy_recovery.natscluster import NatsCluster
from comfy_recovery.natsd import NatsServer, nats_server_binary
from comfy_recovery.params import ParamError, parse_params, parse_value
from comfy_recovery.stack_nats import LocalNats
from contracts.recovery import Abort, Dispatch, RecoveryDecided
from tests.support.samples import AT, SAMPLES, WORKFLOW


def rec(pid: str, gpu: float, status: str = "success") -> PromptRecord:
    return PromptRecord(pid, gpu, status, 1, ((1024, 1024),), ("sd_xl_base_1.0.safetensors",))


def campaign_report(bar: list[str] | None) -> dict[str, object]:
    clean = JobSpec(0, "clean", CLEAN, 0.0)
    broken = JobSpec(1, "node_error", NON_RECOVERABLE, 0.0)
    oom = JobSpec(2, "oom", RECOVERABLE, 0.0)
    outcomes = [
        judge(clean, JobRun(0, COMPLETED, ["a"]), [rec("a", 1.0)], 1),
        judge(broken, JobRun(1, ABORTED, fix_steps=["x"]), [rec("b", 0.5, "error")], 1),
    ]
    policies = {
        "ours": {
            "by_kind": by_kind(outcomes),
            "chaos": {"kills": [], "nats_restarts": 1, "lost": 0, "doubled": 0},
        },
        "naive": {"by_kind": by_kind(outcomes[:1] + [judge(oom, JobRun(2), [], 0)])},
    }
    built: dict[str, object] = {
        "campaign": {
            "jobs": 2,
            "backends": 1,
            "seed": 7,
            "deadline_s": 60,
            "stall_s": 5,
            "step_time_s": 0.01,
        },
        "mix": {"clean": 1, "node_error": 1, "oom": 1, "all": 3},
        "labels": {"clean": CLEAN, **{k.name: k.label for k in KINDS}},
        "policies": policies,
    }
    if bar is not None:
        built["bar"] = bar
    return built


def test_the_campaign_report_shows_each_policy_and_kind() -> None:
    text = report.render(campaign_report([]))
    lines = text.splitlines()
    assert lines[0].startswith("campaign: 2 jobs, 1 backends, seed 7")
    ours = next(line for line in lines if line.startswith("ours "))
    assert "1/2" in ours and "1/1" in ours  # completed 1 of 2; one non-recoverable, one run
    oom = next(line for line in lines if line.startswith("oom "))
    assert " - " in oom  # ours ran no oom job
    assert "chaos (ours): killed nothing; nats-server restarted 1×; lost 0, doubled 0" in lines
    assert lines[-1] == "issue 12 bar for ours: met"
    failed = report.render(campaign_report(["recovery 50% < 95%"]))
    assert failed.splitlines()[-1] == "issue 12 bar for ours: NOT met: recovery 50% < 95%"
    quiet = campaign_report(None)
    quiet["policies"]["ours"].pop("chaos")  # type: ignore[index]
    assert "chaos" not in report.render(quiet) and "bar" not in report.render(quiet)


def test_leftovers_are_only_live_group_leaders_running_the_recorded_program(
    tmp_path: Path,
) -> None:
    child = subprocess.Popen(  # waits on its stdin until we close it
        [sys.executable, "-m", "timeit", "-n", "1", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert leftovers.mark("nats-server-n1", "comfysim") == b"nats-server"
        assert leftovers.mark("simulator", "fake.sim") == b"-m\0fake.sim\0"
        assert leftovers.ours(child.pid, "timeit")
        assert not leftovers.ours(child.pid, "monitor")
        assert not leftovers.ours(os.getpid(), "pytest")  # not a group leader of its own
        dead = {"pid": 2**22 + 1, "children": {"timeit": child.pid, "x": "nope"}}
        assert leftovers.leftovers(dead) == {"timeit": child.pid}
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    assert not leftovers.ours(child.pid, "timeit")  # gone
    assert leftovers.leftovers(dead) == {}
    assert leftovers.leftovers(None) == {}
    assert leftovers.leftovers({"pid": os.getpid(), "children": {"a": 1}}) == {}  # alive
    assert leftovers.leftovers({"pid": 2**22 + 1, "children": []}) == {}


def test_the_nats_server_config_and_binary(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "n", port=4999, name="node-a")
    text = server.config_text()
    assert "listen: 127.0.0.1:4999" in text and "server_name: node-a" in text
    assert "sync_interval: always" in text and str(tmp_path / "n" / "jetstream") in text
    assert server.url == "nats://127.0.0.1:4999"
    assert Path(nats_server_binary()).name == "nats-server"
    server.stop()  # never started: nothing to do


def test_param_values_parse_as_json_else_text() -> None:
    assert parse_value("768") == 768 and parse_value("[1, 2]") == [1, 2]
    assert parse_value("true") is True and parse_value("euler a") == "euler a"
    params, bindings = parse_params(["5.width=768", "seed=3"], WORKFLOW)
    assert params == {"5.width": 768, "seed": 3} and list(bindings) == ["5.width"]
    for bad in ("=1", "width"):
        with pytest.raises(ParamError, match="expected NODE.INPUT=VALUE"):
            parse_params([bad], WORKFLOW)


def test_a_decision_line_shows_changes_waits_and_the_abort_message() -> None:
    decided = next(e for e in SAMPLES if isinstance(e, RecoveryDecided) and not e.terminal)
    line = render.describe(decided)
    assert "[5.batch_size: 4→2]" in line or "batch_size: 4→2" in line
    assert f"(not before {AT:%H:%M:%S})" in line
    waiting = msgspec.structs.replace(
        decided, changes=[], actions=[Dispatch(attempt=2, workflows=[], wait_until=AT)]
    )
    assert "→ waiting for a usable backend (until" in render.describe(waiting)
    steps = Abort(reason="r", user_message="fix it", actionable_steps=["one", "two"])
    aborted = msgspec.structs.replace(decided, changes=[], actions=[steps], terminal=True)
    assert render.describe(aborted).endswith("\n      → fix it\n        - one\n        - two")
    assert render.bar(150.0, width=4) == "[####] 150.0%"  # the bar is capped, not the figure
    assert render.bar(-5, width=4) == "[....]  -5.0%"


def test_a_local_cluster_routes_every_node_to_the_others(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path, size=3, port=4998)
    first, *others = cluster.nodes
    assert first.port == 4998 and cluster.url.startswith("nats://127.0.0.1:4998,")
    assert len(cluster.url.split(",")) == 3
    for node in cluster.nodes:
        text = node.config_text()
        assert f"listen: 127.0.0.1:{node.cluster_port}" in text
        routed = {n.cluster_port for n in cluster.nodes if n is not node}
        assert set(node.route_ports) == routed
        assert all(f"nats-route://127.0.0.1:{p}" in text for p in routed)
        assert not node.alive()
    assert cluster.node("n2") is others[0]
    with pytest.raises(KeyError, match="n9"):
        cluster.node("n9")
    assert cluster.stream_leader("EVENTS") is None  # no node runs
    cluster.stop()  # none started: nothing to do
    with pytest.raises(ValueError, match="at least one node"):
        NatsCluster(tmp_path, size=0)


def test_the_stacks_nats_is_one_server_or_a_cluster(tmp_path: Path) -> None:
    single = LocalNats(tmp_path / "a", 1, 4997, say=print, restarted=lambda: None)
    assert not single.clustered and single.url == "nats://127.0.0.1:4997"
    assert [n.port for n in single.nodes()] == [4997]
    three = LocalNats(tmp_path / "b", 3, None, say=print, restarted=lambda: None)
    assert three.clustered and len(three.nodes()) == 3
    assert three.url == ",".join(n.url for n in three.nodes())
