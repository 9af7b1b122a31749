"""The campaign's pure parts: the seeded mix, the seed system's table, the figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from comfy_recovery.campaign import seedtable
from comfy_recovery.campaign.baseline import decide, failure_of
from comfy_recovery.campaign.command import CampaignConfig, config_from
from comfy_recovery.campaign.metrics import (
    ABORTED,
    COMPLETED,
    UNFINISHED,
    JobRun,
    PromptRecord,
    by_kind,
    completion_bar,
    judge,
    percentile,
    summarize,
)
from comfy_recovery.campaign.mix import (
    CLEAN,
    KINDS,
    NON_RECOVERABLE,
    RECOVERABLE,
    JobSpec,
    kind_counts,
    make_mix,
)
from comfy_recovery.campaign.ours import ChaosPlan, job_run
from comfy_recovery.campaign.seedtable import Failure, Params
from comfy_recovery.cli import main, parser
from comfy_recovery.stack import SERVICES
from contracts.job import FailureEvidence, JobCompleted, JobFailed
from contracts.recovery import Abort, RecoveryDecided, Strategy


def test_kind_counts_a_third_clean_and_every_kind_at_200() -> None:
    counts = kind_counts(200)
    assert sum(counts.values()) == 200
    assert counts["clean"] == 67
    assert all(counts[k.name] >= 3 for k in KINDS)
    assert counts["wedged"] < counts["oom"]  # half weight


def test_kind_counts_small_campaigns_add_up() -> None:
    for jobs in (1, 2, 12, 37):
        assert sum(kind_counts(jobs).values()) == jobs


def test_mix_is_seeded_and_ordered_by_arrival() -> None:
    first, again, other = make_mix(60, 7, 9.0), make_mix(60, 7, 9.0), make_mix(60, 8, 9.0)
    assert first == again
    assert first != other
    arrivals = [s.arrival_s for s in first]
    assert arrivals == sorted(arrivals) and arrivals[0] >= 0 and arrivals[-1] <= 9.0
    assert [s.index for s in first] == list(range(60))


def test_mix_refuses_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="between 1 and"):
        make_mix(0, 7, 1.0)


def test_job_faults_and_labels_follow_the_kind() -> None:
    stall = JobSpec(3, "stall", RECOVERABLE, 0.0)
    assert stall.marker == "cmp0003x"
    assert stall.fault() == {
        "kind": "stall",
        "match": {"filename_prefix_contains": "cmp0003x"},
        "params": {},
        "scope": "once",
    }
    assert JobSpec(1, "node_error", NON_RECOVERABLE, 0.0).fault()["scope"] == "always"  # type: ignore[index]
    assert JobSpec(1, "disk_full", RECOVERABLE, 0.0).fault()["scope"] == "backend"  # type: ignore[index]
    assert JobSpec(1, "clean", CLEAN, 0.0).fault() is None
    assert JobSpec(1, "oom_batch", RECOVERABLE, 0.0).fault() is None


def test_workflow_carries_marker_shape_and_extra_node() -> None:
    spec = JobSpec(12, "missing_node", NON_RECOVERABLE, 0.0, batch=2, extra_node=True)
    graph = spec.workflow()
    assert graph["9"]["inputs"]["filename_prefix"].startswith("cmp0012x")
    assert graph["5"]["inputs"]["batch_size"] == 2
    assert graph["3"]["inputs"]["seed"] == 12
    assert graph["10"]["class_type"] == "FaceDetailerPro"


def test_mix_shapes_the_workflow_kinds() -> None:
    specs = {s.kind: s for s in make_mix(200, 7, 30.0)}
    assert specs["oom_batch"].batch == 8
    assert specs["oom_resolution"].allow_degradation and specs["oom_resolution"].width == 3072
    assert specs["missing_model"].ckpt == "sd_xl_refiner_1.0.safetensors"


# --- the seed system's table ------------------------------------------------------------

BASE = Params(width=1024, height=1024, batch=8, steps=30, ckpt="sd_xl_base_1.0.safetensors")


def test_reduce_params_halves_batch_and_cuts_sides_and_steps() -> None:
    assert seedtable.reduce_params(BASE) == Params(816, 816, 4, 24, BASE.ckpt)
    floor = Params(600, 512, 1, 21, BASE.ckpt)
    assert seedtable.reduce_params(floor) == Params(512, 512, 1, 20, BASE.ckpt)
    assert seedtable.reduce_params(Params(512, 512, 1, 20, BASE.ckpt)) is None


def test_seed_table_actions() -> None:
    oom = Failure("execution", "OutOfMemoryError: CUDA out of memory. Tried to allocate")
    assert seedtable.decide(oom, BASE, 0).action == "REDUCE_PARAMS"
    assert seedtable.decide(Failure("lost"), BASE, 0).action == "RESUME_CHECKPOINT"
    corrupt = Failure("execution", "SafetensorError: Error while deserializing header")
    switched = seedtable.decide(corrupt, BASE, 1)
    assert switched.action == "SWITCH_MODEL"
    assert switched.params.ckpt == "v1-5-pruned-emaonly.safetensors"
    retry = seedtable.decide(Failure("http", "HTTP 500"), BASE, 2)
    assert (retry.action, retry.delay_s) == ("RETRY", 8.0)
    assert seedtable.decide(Failure("execution", "ValueError: bad"), BASE, 0).action == "ABORT"
    assert seedtable.decide(Failure("http", "HTTP 500"), BASE, 3).action == "ABORT"


def test_naive_and_none() -> None:
    failure = Failure("execution", "OutOfMemoryError")
    assert decide("none", failure, BASE, 0).action == "ABORT"
    delays = [decide("naive", failure, BASE, n).delay_s for n in range(3)]
    assert delays == [2.0, 4.0, 8.0]
    assert decide("naive", failure, BASE, 3).action == "ABORT"


def test_failure_of_history_entries() -> None:
    ok = {"status": {"status_str": "success", "messages": []}}
    assert failure_of(ok) is None
    error = {
        "status": {
            "status_str": "error",
            "messages": [
                ["execution_start", {}],
                ["execution_error", {"exception_type": "ValueError", "exception_message": "x"}],
            ],
        }
    }
    assert failure_of(error) == Failure("execution", "ValueError: x")
    stopped = {"status": {"status_str": "error", "messages": [["execution_interrupted", {}]]}}
    assert failure_of(stopped) == Failure("interrupted", "execution interrupted")


# --- figures ------------------------------------------------------------------------------


def rec(pid: str, gpu: float, images: int = 1, size=(1024, 1024), status="success"):  # type: ignore[no-untyped-def]
    return PromptRecord(pid, gpu, status, images, (size,), ("sd_xl_base_1.0.safetensors",))


def test_judge_split_batch_is_correct_and_failed_attempt_is_waste() -> None:
    spec = JobSpec(0, "oom_batch", RECOVERABLE, 0.0, batch=8)
    records = [rec("p1", 2.0, 0, status="error"), rec("p2", 1.5, 4), rec("p3", 1.0, 4)]
    run = JobRun(0, COMPLETED, ["p2", "p3"], 100.0, 101.0, 104.5)
    outcome = judge(spec, run, records, dispatches=2)
    assert outcome.correct and outcome.completed
    assert outcome.gpu_seconds == 4.5
    assert outcome.wasted_gpu_seconds == 2.0
    assert outcome.time_to_recover_s == 3.5


def test_judge_half_batch_or_smaller_image_or_other_model_is_wrong() -> None:
    spec = JobSpec(0, "oom_batch", RECOVERABLE, 0.0, batch=8)
    half = judge(spec, JobRun(0, COMPLETED, ["p"]), [rec("p", 1.0, 4)], 3)
    assert half.completed and not half.correct
    small = JobSpec(1, "oom", RECOVERABLE, 0.0)
    cut = judge(small, JobRun(1, COMPLETED, ["p"]), [rec("p", 1.0, 1, (816, 816))], 2)
    assert not cut.correct
    allowed = JobSpec(2, "oom_resolution", RECOVERABLE, 0.0, 3072, 3072, allow_degradation=True)
    assert judge(allowed, JobRun(2, COMPLETED, ["p"]), [rec("p", 1.0, 1, (1960, 1960))], 2).correct
    other = PromptRecord("p", 1.0, "success", 1, ((1024, 1024),), ("v1-5.safetensors",))
    assert not judge(small, JobRun(1, COMPLETED, ["p"]), [other], 2).correct


def test_judge_aborted_job_wastes_everything() -> None:
    spec = JobSpec(0, "node_error", NON_RECOVERABLE, 0.0)
    run = JobRun(0, ABORTED, [], fix_steps=["fix node 5"])
    outcome = judge(spec, run, [rec("p", 0.25, 0, status="error")], dispatches=1)
    assert outcome.wasted_gpu_seconds == 0.25 and outcome.fix_named
    assert not judge(spec, JobRun(0, ABORTED), [], 1).fix_named


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert percentile([float(v) for v in range(1, 21)], 95) == 19.0
    assert percentile([5.0], 95) == 5.0


def test_summarize_hand_computed() -> None:
    clean = JobSpec(0, "clean", CLEAN, 0.0)
    oom = JobSpec(1, "oom", RECOVERABLE, 0.0)
    stall = JobSpec(2, "stall", RECOVERABLE, 0.0)
    broken = JobSpec(3, "node_error", NON_RECOVERABLE, 0.0)
    outcomes = [
        judge(clean, JobRun(0, COMPLETED, ["a"]), [rec("a", 1.0)], 1),
        judge(
            oom,
            JobRun(1, COMPLETED, ["c"], 0, 10.0, 12.0),
            [rec("b", 1, 0, status="error"), rec("c", 1)],
            2,
        ),
        judge(stall, JobRun(2, UNFINISHED), [rec("d", 3.0, 0, status="error")], 1),
        judge(broken, JobRun(3, ABORTED, fix_steps=["x"]), [rec("e", 0.5, 0, status="error")], 1),
    ]
    figures = summarize(outcomes)
    assert figures["jobs"] == 4 and figures["completed"] == 2 and figures["correct"] == 2
    assert (figures["recoverable"], figures["recovered"], figures["recovery_pct"]) == (2, 1, 50.0)
    assert figures["clean_harmed"] == 0 and figures["wrong_outputs"] == 0
    assert (figures["aborted_first_run"], figures["aborted_with_fix"]) == (1, 1)
    assert figures["aborted_first_dispatch"] == 1
    assert figures["unfinished"] == 1 and figures["dispatches"] == 5
    assert figures["gpu_s"] == 6.5 and figures["wasted_gpu_s"] == 4.5
    assert figures["ttr_p50_s"] == 2.0
    waited = judge(broken, JobRun(3, UNFINISHED), [], 0)
    assert summarize([waited])["aborted_first_run"] == 0  # never ended: not an abort
    # two dispatches lost in queues to other jobs' crashes, then one run that failed: it was
    # not retried after its own failure
    victim = judge(
        broken, JobRun(3, ABORTED, fix_steps=["x"]), [rec("f", 0.5, 0, status="error")], 3
    )
    assert summarize([victim])["aborted_first_run"] == 1
    assert summarize([victim])["aborted_first_dispatch"] == 0
    retried = judge(broken, JobRun(3, ABORTED, fix_steps=["x"]), [rec("g", 0.5), rec("h", 0.5)], 2)
    assert summarize([retried])["aborted_with_fix"] == 0
    table = by_kind(outcomes)
    assert list(table) == ["clean", "oom", "stall", "node_error", "all"]
    assert table["stall"]["recovery_pct"] == 0.0


def test_completion_bar() -> None:
    good = {
        "recovery_pct": 96.0,
        "clean_harmed": 0,
        "clean": 60,
        "wrong_outputs": 0,
        "aborted_with_fix": 10,
        "non_recoverable": 10,
    }
    assert completion_bar(good, {"recovery_pct": 50.0}, {"recovery_pct": 80.0}) == []
    unmet = completion_bar(
        {**good, "recovery_pct": 22.0, "clean_harmed": 20},
        {"recovery_pct": 29.0},
        {"recovery_pct": 40.0},
    )
    assert len(unmet) == 4


# --- ours: reading a job's events, the chaos plan ------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def failed(seconds: float) -> JobFailed:
    return JobFailed(
        event_id=f"f{seconds}",
        job_id="j",
        occurred_at=at(seconds),
        source="t",
        evidence=FailureEvidence(surface="execution_error"),
    )


def completed(seconds: float, prompts: list[str]) -> JobCompleted:
    return JobCompleted(
        event_id=f"c{seconds}",
        job_id="j",
        occurred_at=at(seconds),
        source="t",
        backend_id="b0",
        prompt_ids=prompts,
    )


def aborted(seconds: float, steps: list[str]) -> RecoveryDecided:
    return RecoveryDecided(
        event_id=f"a{seconds}",
        job_id="j",
        occurred_at=at(seconds),
        source="t",
        answers_event_id="x",
        strategy=Strategy.ABORT,
        actions=[Abort(reason="r", user_message="install the node", actionable_steps=steps)],
        terminal=True,
    )


def test_job_run_from_events_completed_after_a_failure() -> None:
    run = job_run(4, 99.0, [failed(1.0), failed(2.0), completed(5.0, ["p1", "p2"])])
    assert run.status == COMPLETED and run.final_prompts == ["p1", "p2"]
    assert run.first_failure_at == at(1.0).timestamp()
    assert run.ended_at == at(5.0).timestamp() and run.completions == 1
    doubled = job_run(4, 99.0, [completed(5.0, ["p"]), completed(6.0, ["q"])])
    assert doubled.completions == 2 and doubled.final_prompts == ["p"]


def test_job_run_from_events_aborted_or_unfinished() -> None:
    run = job_run(1, 0.0, [failed(1.0), aborted(1.5, ["install FaceDetailerPro"])])
    assert run.status == ABORTED and run.message == "install the node"
    assert run.fix_steps == ["install FaceDetailerPro"]
    assert job_run(1, 0.0, [failed(1.0)]).status == UNFINISHED


def test_chaos_plan_kills_every_service_once_and_is_seeded() -> None:
    plan = ChaosPlan.seeded(7, 30.0)
    assert sorted(name for _, name in plan.kills) == sorted(SERVICES)
    assert all(3.0 <= t <= 24.0 for t, _ in plan.kills)
    assert plan.nats_restart_at is not None and 9.0 <= plan.nats_restart_at <= 18.0
    assert plan == ChaosPlan.seeded(7, 30.0) and plan != ChaosPlan.seeded(8, 30.0)


# --- the command refuses what cannot run --------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--policies", "none,smart"], "unknown policies ['smart']"),
        (["--policies", "none", "--chaos"], "--chaos acts on `ours`"),
        (["--backends", "0"], "--backends must be between 1 and 16"),
        (["--jobs", "10000"], "--jobs must be between 1 and 9999"),
        (["--instances", "5"], "--instances must be between 1 and 4"),
    ],
)
def test_campaign_refuses_bad_arguments_with_the_reason(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["campaign", *argv])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert says in captured.err and captured.out == ""


def test_config_from_arguments() -> None:
    args = parser().parse_args(["campaign", "--jobs", "12", "--policies", "naive, ours"])
    config = config_from(args)
    assert config.jobs == 12 and config.policies == ("naive", "ours")
    assert config.window_s == pytest.approx(6.0)  # 0.5 s per job
    window = parser().parse_args(["campaign", "--arrival-window", "30"])
    assert config_from(window).window_s == 30.0
    assert CampaignConfig().policies == ("none", "naive", "seed", "ours")
