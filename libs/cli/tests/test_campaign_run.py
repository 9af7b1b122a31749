"""A tiny campaign end to end (none, naive and the real system) against the simulator's own
records: every dispatch and every GPU-second the fleet saw is attributed to exactly one job,
and every job judged correct really produced its images."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from comfy_recovery.campaign.command import CampaignConfig, PolicyResult, run_policy
from comfy_recovery.campaign.metrics import ABORTED, COMPLETED, UNFINISHED, by_kind
from comfy_recovery.campaign.mix import make_mix

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(600)]

CONFIG = CampaignConfig(jobs=12, backends=2, seed=3, deadline_s=25.0, step_time_s=0.01)


def check_against_the_fleet(result: PolicyResult) -> None:
    fleet = result.fleet
    records = fleet.records()
    assert sum(o.dispatches for o in result.outcomes) == sum(fleet.dispatches.values())
    gpu = sum(r.gpu_seconds for r in records)
    assert sum(o.gpu_seconds for o in result.outcomes) == pytest.approx(gpu)
    by_id = {r.prompt_id: r for r in records}
    for outcome in result.outcomes:
        run = result.runs[outcome.index]
        assert outcome.status in (COMPLETED, ABORTED, UNFINISHED)
        assert outcome.wasted_gpu_seconds <= outcome.gpu_seconds + 1e-9
        if outcome.correct:
            finals = [by_id[p] for p in run.final_prompts]
            assert all(r.status == "success" for r in finals)
            assert sum(r.output_images() for r in finals) >= 1
        if outcome.completed:
            assert run.final_prompts and all(p in by_id for p in run.final_prompts)


async def test_tiny_campaign_is_consistent_with_the_simulator(tmp_path: Path) -> None:
    config = dataclasses.replace(CONFIG, data_dir=tmp_path)
    specs = make_mix(config.jobs, config.seed, config.window_s)
    none = await run_policy("none", specs, config)
    check_against_the_fleet(none)
    # no recovery: one POST per job (none reaches a backend that is down after a crash)
    assert all(o.dispatches <= 1 for o in none.outcomes)
    naive = await run_policy("naive", specs, config)
    check_against_the_fleet(naive)
    assert all(o.dispatches <= 4 for o in naive.outcomes)
    ours = await run_policy("ours", specs, config)
    check_against_the_fleet(ours)
    assert all(o.completions <= 1 for o in ours.outcomes)
    # the same jobs were judged under each policy, with the same labels
    for result in (naive, ours):
        assert [(o.index, o.label) for o in result.outcomes] == [
            (o.index, o.label) for o in none.outcomes
        ]
    figures = by_kind(none.outcomes)["all"]
    assert figures["jobs"] == 12 and figures["completed"] <= 12
    clean_done = [o for o in none.outcomes if o.label == "clean" and o.correct]
    assert clean_done, "no clean job completed even without faults"
