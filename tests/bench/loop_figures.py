"""The whole-loop bench's arithmetic, kept pure: percentiles, a step's verdict, the ramp,
CPU shares from ``/proc/<pid>/stat`` and the bottleneck named from that evidence."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from contracts import subjects

RAMP_START = 5.0
BISECTIONS = 2
"""Steps between the best sustained and the lowest broken rate once a step broke."""
LATENCY_LIMIT_S = 5.0
GROWTH_LIMIT_S = 1.0
"""How much longer the last jobs of a step may wait than its first ones (see `behind`)."""
SATURATED_PCT = 85.0
"""A service process (one asyncio loop) at this share of one core or more is the ceiling."""
BOX_SATURATED_PCT = 90.0
"""The whole box this busy (% of all cores): every process competes for CPU."""
DISPATCH = "submit→dispatched"
RUN = "dispatched→completed"
STAGES = {DISPATCH: "submitter", RUN: "monitor"}
STAGE_DURABLES = {
    DISPATCH: subjects.DURABLE_SUBMITTER_JOBS,
    RUN: subjects.DURABLE_MONITOR_DISPATCHES,
}
"""The durable each stage's service consumes the job's events from."""
"""Each stage of a job's path and the service that owns it (the simulator runs the prompt
inside the second; it is named instead when it burns more CPU than the monitor)."""
LOAD_GENERATOR = "bench"


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` percentile (0 < q ≤ 1); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Step:
    """One step of the ramp: what was submitted at `rate` and how each job went."""

    rate: float
    submitted: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds from submit to job.completed, one per completed job."""
    stages: dict[str, list[float]] = field(default_factory=dict)
    """Seconds per stage (`STAGES`), one per completed job."""
    cut_short: bool = False
    """Submitting stopped early: a job in flight was already older than the limit."""

    def p(self, q: float, stage: str | None = None) -> float:
        """The `q` percentile of the whole path or of one stage, in seconds."""
        return percentile(self.latencies if stage is None else self.stages.get(stage, []), q)


def verdict(step: Step, limit_s: float = LATENCY_LIMIT_S) -> str | None:
    """Why the step was not sustained, or None when it was: every job completed, none
    failed, p99 submit→completed stayed within the limit, and the loop kept up (`behind`)."""
    if step.failed:
        return f"{step.failed} of {step.submitted} jobs failed"
    unfinished = step.submitted - len(step.latencies)
    if step.cut_short or unfinished:
        return f"a job was open over {limit_s:g} s ({unfinished} of {step.submitted} open then)"
    if step.p(0.99) > limit_s:
        return f"p99 {step.p(0.99):.2f} s over {limit_s:g} s"
    return behind(step.latencies)


def behind(latencies: list[float]) -> str | None:
    """Whether completions fell behind submissions: at a rate the loop sustains its queue
    does not grow, so the last quarter of the jobs (in submission order) waits about as long
    as the first; more than `GROWTH_LIMIT_S` longer means the backlog was building."""
    quarter = len(latencies) // 4
    if quarter < 2:
        return None
    first, last = percentile(latencies[:quarter], 0.5), percentile(latencies[-quarter:], 0.5)
    if last - first <= GROWTH_LIMIT_S:
        return None
    return f"falling behind: p50 {first:.2f} s for the first quarter, {last:.2f} s for the last"


def next_rate(history: list[tuple[float, bool]], ceiling: float) -> float | None:
    """The next step's jobs/s from the steps so far (rate, sustained): double until a step
    breaks, then `BISECTIONS` steps halfway between the best sustained and the lowest broken
    rate; None when done (also at `ceiling`)."""
    if not history:
        return RAMP_START
    passed = [rate for rate, ok in history if ok]
    broken = [rate for rate, ok in history if not ok]
    best = max(passed, default=0.0)
    if not broken:
        return None if best >= ceiling else min(best * 2, ceiling)
    since_break = len(history) - 1 - [ok for _, ok in history].index(False)
    if not passed or since_break >= BISECTIONS:
        return None
    middle = round((best + min(broken)) / 2)
    return middle if best < middle < min(broken) else None


def sustained(history: list[tuple[float, bool]]) -> float:
    """The highest rate sustained (0 when none was)."""
    return max((rate for rate, ok in history if ok), default=0.0)


def cpu_seconds(stat: str, ticks_per_s: int) -> float:
    """User + system CPU seconds from a ``/proc/<pid>/stat`` line (every thread); the
    command name in parentheses may hold spaces, so fields are counted after its ")"."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def wait_seconds(schedstat: str) -> float:
    """Seconds the main thread spent runnable but waiting for a CPU (``/proc/<pid>/schedstat``:
    run ns, runqueue wait ns, timeslices)."""
    return int(schedstat.split()[1]) / 1e9


def shares(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict[str, float]:
    """Each process's seconds between two readings in % of `wall_s` (seen both times)."""
    if wall_s <= 0:
        return {}
    return {n: 100.0 * (after[n] - before[n]) / wall_s for n in before if n in after}


def grown_stage(good: Step | None, bad: Step) -> tuple[str, float, float]:
    """The stage whose p50 grew most from `good` to `bad` (or the longest in `bad` alone),
    with its p50 in both steps (seconds; 0 without a good step)."""

    def growth(stage: str) -> float:
        before = good.p(0.5, stage) if good is not None else 0.0
        return bad.p(0.5, stage) - before

    stage = max(STAGES, key=lambda s: growth(s) if not math.isnan(growth(s)) else -math.inf)
    before = good.p(0.5, stage) if good is not None else 0.0
    return stage, before, bad.p(0.5, stage)


def box_ticks(stat: str) -> tuple[int, int, int]:
    """(busy, iowait, total) ticks of all cores from the ``cpu`` line of ``/proc/stat``
    (user nice system idle iowait irq softirq steal; guest time is inside user)."""
    fields = [int(v) for v in stat.split()[1:9]]
    idle, iowait, total = fields[3], fields[4], sum(fields)
    return total - idle - iowait, iowait, total


def box_shares(before: tuple[int, int, int], after: tuple[int, int, int]) -> tuple[float, float]:
    """The box's busy and iowait time between two readings, in % of all its cores."""
    total = after[2] - before[2]
    if total <= 0:
        return 0.0, 0.0
    return 100.0 * (after[0] - before[0]) / total, 100.0 * (after[1] - before[1]) / total


@dataclass
class Evidence:
    """What a step cost besides latency: CPU per process (% of one core), time each waited
    for a CPU (% of the step), the deepest backlog seen per durable, and the whole box's
    busy and iowait shares (% of all cores)."""

    cpu: dict[str, float] = field(default_factory=dict)
    starved: dict[str, float] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    box_busy: float = 0.0
    box_iowait: float = 0.0

    def describe(self) -> str:
        """Everything, compactly, for the bench's log."""
        ran = ", ".join(
            f"{n} {v:.0f} % (waited {self.starved.get(n, 0.0):.0f} %)" for n, v in self.cpu.items()
        )
        queued = ", ".join(f"{n} {v}" for n, v in self.pending.items())
        return f"cpu {ran}; backlogs {queued}; box {self.box_busy:.0f} % busy"


def suspect(stage: str, cpu: dict[str, float]) -> str:
    """A service process saturating its core if there is one, else the stage's owner (the
    simulator instead of the monitor when it burns more)."""
    services = {n: v for n, v in cpu.items() if n != LOAD_GENERATOR}
    top = max(services, key=services.__getitem__, default=None)
    if top is not None and services[top] >= SATURATED_PCT:
        return top
    owner = STAGES[stage]
    if owner == "monitor" and cpu.get("simulator", 0.0) > cpu.get("monitor", 0.0):
        return "simulator"
    return owner


def backlogs(stage: str, pending: dict[str, int]) -> list[str]:
    """The stage's own durable's largest backlog, and the deepest one if another's."""
    if not pending:
        return []
    durable = STAGE_DURABLES[stage]
    deepest = max(pending, key=pending.__getitem__)
    found = [f"backlog {durable} {pending.get(durable, 0)}"]
    if deepest != durable:
        found.append(f"deepest {deepest} {pending[deepest]}")
    return found


def name_bottleneck(good: Step | None, bad: Step, seen: Evidence) -> str:
    """``<service> (<evidence>)``: the `suspect` of the stage that grew most, with that
    growth, the suspect's CPU (saturated, starved by other processes, or waiting on I/O),
    the box's CPU, the busiest processes and the consumers' backlogs."""
    stage, before, after = grown_stage(good, bad)
    owner = suspect(stage, seen.cpu)
    share, starved = seen.cpu.get(owner, 0.0), seen.starved.get(owner, 0.0)
    if share >= SATURATED_PCT:
        how = "CPU-bound"
    elif starved >= share:
        how = f"starved, it waited for a CPU {starved:.0f} % of the time"
    elif seen.box_busy >= BOX_SATURATED_PCT:
        how = "the box's CPU is saturated"
    else:
        how = "waiting on I/O, not CPU-bound"
    busiest = sorted(seen.cpu.items(), key=lambda kv: -kv[1])[:4]
    evidence = [
        f"{stage} p50 {before * 1000:.0f} → {after * 1000:.0f} ms at {bad.rate:g} jobs/s",
        f"{owner} at {share:.0f} % of one core: {how}",
        f"box CPU {seen.box_busy:.0f} % busy, iowait {seen.box_iowait:.0f} %",
        "busiest " + ", ".join(f"{n} {v:.0f} %" for n, v in busiest),
    ]
    evidence.extend(backlogs(stage, seen.pending))
    return f"{owner} ({'; '.join(evidence)})"


def step_line(step: Step, broken: str | None) -> str:
    """One step's figures: p50/p99 end to end, each stage's p50, and its verdict."""
    return (
        f"  step {step.rate:5g} jobs/s  {step.submitted:5d} jobs"
        f"   p50 {step.p(0.5) * 1000:7.1f} ms   p99 {step.p(0.99) * 1000:7.1f} ms"
        f"   {DISPATCH} {step.p(0.5, DISPATCH) * 1000:6.1f} ms"
        f"   {RUN} {step.p(0.5, RUN) * 1000:6.1f} ms   {broken or 'sustained'}"
    )


def half_line(step: Step) -> str:
    """The run at half the sustained rate: p50/p99 end to end, its verdict, stage p99s."""
    return (
        f"  at 50 % ({step.rate:g} jobs/s, {step.submitted} jobs)"
        f"   p50 {step.p(0.5) * 1000:7.1f} ms   p99 {step.p(0.99) * 1000:7.1f} ms"
        f"   ({verdict(step) or 'all completed'}; p99 {DISPATCH}"
        f" {step.p(0.99, DISPATCH) * 1000:.0f} ms, {RUN} {step.p(0.99, RUN) * 1000:.0f} ms)"
    )


def bottleneck(steps: list[tuple[Step, Evidence]]) -> str:
    """Named from the first broken step against the last sustained one before it (or
    from the last step when none broke)."""
    good: Step | None = None
    for step, evidence in steps:
        if verdict(step) is not None:
            return name_bottleneck(good, step, evidence)
        good = step
    last, evidence = steps[-1]
    return "none reached (" + name_bottleneck(None, last, evidence) + ")"
