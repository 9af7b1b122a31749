"""The fleet-level bar (issue 12), as a regression test: the default campaign — 200 jobs on
3 simulated backends, every fault kind, seed 7 — run through the whole system (`ours`) and
through the two baselines, in the same run.

Faults must pile up before a cascade shows (an 80-job run of the old code scored 97%, the
200-job run 22–87%), so this runs the full default campaign: about 8 minutes, in the slow
suite. The campaign starts its own nats-server, services and simulated fleet."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfy_recovery.campaign.command import CampaignConfig, run_campaign
from comfy_recovery.stackconfig import SERVICES

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.timeout(2400)
async def test_the_default_campaign_meets_the_fleet_bar(tmp_path: Path) -> None:
    config = CampaignConfig(policies=("naive", "seed", "ours"), data_dir=tmp_path)
    report = await run_campaign(config)
    ours = report["policies"]["ours"]["by_kind"]["all"]
    summary = {k: ours[k] for k in ("recovery_pct", "clean_harmed", "unfinished", "doubled")}
    assert report["bar"] == [], (report["bar"], summary)
    assert ours["unfinished"] == 0 and ours["doubled"] == 0, summary
    assert ours["clean"] == 67 and ours["recoverable"] == 109, "the default mix changed"


@pytest.mark.timeout(1200)
async def test_two_instances_of_the_services_lose_nothing_under_chaos(tmp_path: Path) -> None:
    # Issue 15: two submitters, classifiers and recovery services side by side (the monitor
    # and embedded analytics run once, see StackConfig.units), each service killed with -9
    # once and NATS restarted once while the default campaign runs. What must always hold:
    # every job ends, none is doubled or given a wrong output, every non-recoverable job is
    # stopped with its fix. The recovery rate is not the bar here: measured 87-100 % over
    # four runs on a loaded box (one instance: 100 % in the same hours), see the README.
    config = CampaignConfig(policies=("ours",), chaos=True, instances=2, data_dir=tmp_path)
    report = await run_campaign(config)
    ours = report["policies"]["ours"]
    figures = ours["by_kind"]["all"]
    summary = {k: figures[k] for k in ("recovery_pct", "clean_harmed", "unfinished", "doubled")}
    assert figures["unfinished"] == 0 and figures["doubled"] == 0, summary
    assert figures["wrong_outputs"] == 0, summary
    assert figures["aborted_with_fix"] == figures["non_recoverable"], summary
    assert (figures["recovery_pct"] or 0) >= 80, summary
    chaos = ours["chaos"]
    assert chaos["lost"] == 0 and chaos["doubled"] == 0 and chaos["nats_restarts"] == 1, chaos
    assert sorted(chaos["kills"]) == sorted(SERVICES), chaos
