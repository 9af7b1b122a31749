"""`comfy-recovery campaign`: run the seeded mix under each policy on a fresh fleet, report."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from comfy_recovery.campaign import report as text
from comfy_recovery.campaign.baseline import POLICIES as CLIENT_POLICIES
from comfy_recovery.campaign.baseline import BaselineRunner
from comfy_recovery.campaign.metrics import (
    JobOutcome,
    JobRun,
    PromptRecord,
    by_kind,
    completion_bar,
    judge,
)
from comfy_recovery.campaign.mix import CLEAN, KINDS, JobSpec, kind_counts, make_mix

if TYPE_CHECKING:
    from comfysim.accounting import RunRecord
    from comfysim.fleet import SimFleet

POLICIES: Final = (*CLIENT_POLICIES, "ours")
EXIT_USAGE: Final = 2
ARRIVAL_S_PER_JOB: Final = 0.5
"""Default spacing of arrivals: with retries counted, about half of what 3 simulated
backends can run. At 0.15 s per job the fleet is saturated, queues grow past the deadline
and the deadline, not the recovery policy, decides most outcomes."""
SETTLE_S: Final = 60.0
"""Beyond the last arrival and one deadline, how long a policy run may take before it is cut."""


class CampaignError(Exception):
    """A campaign that cannot run (bad arguments, no simulator)."""


@dataclass(frozen=True)
class CampaignConfig:
    """Everything that defines a campaign run."""

    jobs: int = 200
    backends: int = 3
    seed: int = 7
    policies: tuple[str, ...] = POLICIES
    chaos: bool = False
    step_time_s: float = 0.02
    deadline_s: float = 60.0
    stall_s: float = 3.0
    arrival_window_s: float | None = None
    data_dir: Path = Path(".data/campaign")
    instances: int = 1

    @property
    def window_s(self) -> float:
        """Jobs arrive spread over this many seconds (default `ARRIVAL_S_PER_JOB` per job)."""
        if self.arrival_window_s is not None:
            return self.arrival_window_s
        return ARRIVAL_S_PER_JOB * self.jobs

    def check(self) -> None:
        """Refuse what cannot run, with the reason."""
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown or not self.policies:
            raise CampaignError(f"unknown policies {unknown}; known: {', '.join(POLICIES)}")
        if not 1 <= self.backends <= 16:
            raise CampaignError("--backends must be between 1 and 16")
        if not 1 <= self.jobs <= 9999:
            raise CampaignError("--jobs must be between 1 and 9999")
        if self.chaos and "ours" not in self.policies:
            raise CampaignError("--chaos acts on `ours`: add it to --policies")
        if not 1 <= self.instances <= 4:
            raise CampaignError("--instances must be between 1 and 4")


def prompt_record(run: RunRecord) -> PromptRecord:
    """A simulator run record as the metrics see it (sizes and models from the graph)."""
    nodes = [n for n in run.prompt.values() if isinstance(n, dict)]
    sizes = tuple(
        (int(n["inputs"]["width"]), int(n["inputs"]["height"]))
        for n in nodes
        if str(n.get("class_type", "")).startswith("EmptyLatent")
    )
    models = tuple(
        str(n["inputs"]["ckpt_name"]) for n in nodes if "ckpt_name" in n.get("inputs", {})
    )
    return PromptRecord(
        run.prompt_id, run.gpu_seconds, run.status, run.output_images(), sizes, models
    )


def records_by_marker(fleet: SimFleet) -> dict[str, list[PromptRecord]]:
    """The fleet's prompt runs grouped by job marker."""
    from comfysim.fleet import markers_in

    grouped: dict[str, list[PromptRecord]] = defaultdict(list)
    for run in fleet.records():
        for marker in markers_in(run.prompt, fleet.pattern):
            grouped[marker].append(prompt_record(run))
    return grouped


def new_fleet(config: CampaignConfig, specs: list[JobSpec]) -> SimFleet:
    """N simulated backends (24 GiB GPUs, 64 GiB hosts) with every job's fault armed."""
    try:
        from comfysim import FaultSpec, SimBackendSpec
        from comfysim.fleet import SimFleet
    except ImportError as exc:
        raise CampaignError(
            "the campaign needs the ComfyUI simulator: `make install` (or "
            "`pip install ./tools/comfysim`)"
        ) from exc
    fleet = SimFleet(
        SimBackendSpec(f"b{i}", step_time_s=config.step_time_s) for i in range(config.backends)
    )
    for spec in specs:
        fault = spec.fault()
        if fault is not None:
            scope = fault.pop("scope")
            fleet.arm(FaultSpec.from_dict(fault), scope)
    return fleet


def say(line: str) -> None:
    """Progress on stderr (stdout is for figures)."""
    print(f"[campaign] {line}", file=sys.stderr, flush=True)


@dataclass
class PolicyResult:
    """One policy's run: the judged jobs, what the client saw, the (stopped) fleet, extras."""

    outcomes: list[JobOutcome]
    runs: dict[int, JobRun]
    fleet: SimFleet
    extra: dict[str, Any]


async def run_policy(policy: str, specs: list[JobSpec], config: CampaignConfig) -> PolicyResult:
    """One policy on a fresh fleet: every job's outcome, and what else happened."""
    from comfy_recovery.campaign.ours import ChaosPlan, OursRunner

    fleet = new_fleet(config, specs)
    await fleet.start()
    extra: dict[str, Any] = {}
    started = time.monotonic()
    bound = config.window_s + config.deadline_s + SETTLE_S  # never reached by the baselines
    try:
        if policy == "ours":
            plan = ChaosPlan.seeded(config.seed, config.window_s) if config.chaos else None
            runner = OursRunner(
                fleet.urls, config.deadline_s, config.stall_s, config.data_dir / "ours", plan
            )
            runner.instances = config.instances
            runs = await runner.run(specs, bound)
            if plan is not None:
                extra["chaos"] = asdict(runner.report)
        else:
            baseline = BaselineRunner(policy, fleet.urls, config.deadline_s, config.stall_s)
            runs = await asyncio.wait_for(baseline.run(specs), bound)
    finally:
        await fleet.stop()
    extra["duration_s"] = round(time.monotonic() - started, 1)
    grouped = records_by_marker(fleet)
    outcomes = [
        judge(
            spec,
            runs.get(spec.index, JobRun(spec.index)),
            grouped.get(spec.marker, []),
            fleet.dispatches[spec.marker],
        )
        for spec in specs
    ]
    return PolicyResult(outcomes, runs, fleet, extra)


async def run_campaign(config: CampaignConfig) -> dict[str, Any]:
    """Every policy, one after the other, on the same jobs; the report as a JSON-able dict."""
    config.check()
    specs = make_mix(config.jobs, config.seed, config.window_s)
    report: dict[str, Any] = {
        "campaign": {
            "jobs": config.jobs,
            "backends": config.backends,
            "seed": config.seed,
            "policies": list(config.policies),
            "chaos": config.chaos,
            "instances": config.instances,
            "step_time_s": config.step_time_s,
            "deadline_s": config.deadline_s,
            "stall_s": config.stall_s,
            "arrival_window_s": config.window_s,
        },
        "mix": kind_counts(config.jobs),
        "labels": {"clean": CLEAN, **{k.name: k.label for k in KINDS}},
        "policies": {},
    }
    for policy in config.policies:
        say(f"{policy}: {config.jobs} jobs on {config.backends} fresh backends …")
        result = await run_policy(policy, specs, config)
        figures = by_kind(result.outcomes)
        jobs = [asdict(o) for o in result.outcomes]
        report["policies"][policy] = {"by_kind": figures, **result.extra, "jobs": jobs}
        done = f"done in {result.extra['duration_s']}s"
        say(f"{policy}: {done}, {figures['all']['recovery_pct']}% of recoverable jobs recovered")
    if {"ours", "naive", "seed"} <= set(config.policies):
        overall = {p: report["policies"][p]["by_kind"]["all"] for p in ("ours", "naive", "seed")}
        report["bar"] = completion_bar(overall["ours"], overall["naive"], overall["seed"])
    return report


def add_parser(sub: Any) -> None:
    """Register `campaign` on the CLI's subparsers."""
    c = sub.add_parser("campaign", help="run a seeded fault campaign under several policies")
    c.add_argument("--jobs", type=int, default=200)
    c.add_argument("--backends", type=int, default=3)
    c.add_argument("--seed", type=int, default=7)
    c.add_argument("--policies", default=",".join(POLICIES), help="comma-separated")
    c.add_argument("--chaos", action="store_true", help="kill -9 services, restart NATS (ours)")
    c.add_argument("--json", metavar="FILE|-", help="write the figures as JSON ('-': stdout)")
    c.add_argument("--deadline", type=float, default=60.0, help="seconds per job")
    c.add_argument(
        "--arrival-window",
        type=float,
        default=None,
        help="jobs arrive spread over this many seconds (default: 0.5 s per job)",
    )
    c.add_argument("--data-dir", default=".data/campaign", help="the stack's files for `ours`")
    c.add_argument("--instances", type=int, default=1, help="processes of every service (`ours`)")


def config_from(args: argparse.Namespace) -> CampaignConfig:
    """The campaign the command-line arguments describe."""
    return CampaignConfig(
        jobs=args.jobs,
        backends=args.backends,
        seed=args.seed,
        policies=tuple(p.strip() for p in args.policies.split(",") if p.strip()),
        chaos=args.chaos,
        deadline_s=args.deadline,
        arrival_window_s=args.arrival_window,
        data_dir=Path(args.data_dir).resolve(),
        instances=args.instances,
    )


async def cmd_campaign(args: argparse.Namespace) -> int:
    """The `campaign` command: run, print the tables, write JSON if asked (2: refused)."""
    if not getattr(args, "verbose", 0):
        logging.getLogger("comfysim").setLevel(logging.CRITICAL)  # injected faults, on purpose
    try:
        config = config_from(args)
        config.check()
        report = await run_campaign(config)
    except CampaignError as exc:
        print(f"comfy-recovery: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rendered = text.render(report)
    document = json.dumps(report, indent=2)
    if args.json == "-":
        print(rendered, file=sys.stderr)
        print(document)
        return 0
    print(rendered)
    if args.json:
        try:
            await asyncio.to_thread(Path(args.json).write_text, document + "\n")
        except OSError as exc:
            print(f"comfy-recovery: error: cannot write {args.json}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return 0
