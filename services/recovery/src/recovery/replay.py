"""What-if replay: the recorded failures of past jobs, decided again under another policy.

Pure: recorded events in, a comparison out (the command `comfy-recovery replay` reads the
events and prints this). For each job, its events are folded in stream order exactly as
the recovery service folded them; at each classified failure that got a recorded
decision, the public decision core (`recovery.decide.decide`) runs again with the other
policy, the backends as telemetry reported them then, the recorded decision's time and
the same seeded generator. The two decisions are compared.

How far a comparison goes, and the estimates (documented in the README):

* A job is compared failure by failure on its recorded history, until the first failure
  where the replayed decision ends the job and the recorded one did not ("aborted
  earlier"), or the recorded one ended it and the replayed one would go on ("saved").
  Past that point the recorded history would not have happened, so nothing after it
  is compared. A change of strategy that keeps both running ("changed") is compared on.
* Attempts are dispatches (attempt numbers that reached, or were refused by, a backend).
  Aborted earlier: the attempts after that failure would not have run; their GPU-seconds
  (dispatch → end of the attempt, as recorded) are saved. Saved: at least one more
  attempt; at most as many as the policy would allow if the same failure recurred each
  time (decisions until terminal, found by re-running the core on that assumption); each
  costs the mean recorded duration of the job's attempts so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from contracts.failure import FailureClassified
from contracts.job import JobCompleted, JobDispatched, JobFailed
from contracts.policy import RecoveryPolicy
from contracts.recovery import Abort, RecoveryDecided
from recovery import policy as policies
from recovery.decide import DEFAULT_TUNING
from recovery.decision import Decision
from recovery.errors import DomainError
from recovery.job_state import JobState
from recovery.replay_sim import InventoryAt, PolicyFor, decide_as_service, recurrences
from recovery.state_machine import NO_BACKEND, JobEvent, apply
from recovery.strategies.context import Tuning

__all__ = ["InventoryAt", "JobReplay", "PolicyFor", "as_default", "override", "replay_job"]

Verdict = Literal["unchanged", "changed", "saved", "aborted_earlier", "skipped"]


def override(policy: RecoveryPolicy) -> PolicyFor:
    """Every job is decided under `policy` (its own policy is ignored)."""
    return lambda _state: policy


def as_default(policy: RecoveryPolicy) -> PolicyFor:
    """`policy` is the live default; a job's own policy still applies over it."""
    return lambda state: policies.effective(policy, state.policy)


@dataclass(frozen=True, slots=True)
class Compared:
    """One recorded failure: the recorded decision and the replayed one."""

    failure_event_id: str
    attempt: int
    failure_class: str
    recorded: str
    recorded_terminal: bool
    replayed: str
    replayed_terminal: bool
    replayed_reason: str
    reproduced: bool | None = None
    """Whether the recorded policy, re-run on the same rebuilt inputs, gives the recorded
    decision again (None: not checked). A False says the inputs (backends, breakers) were
    not rebuilt faithfully, so a change at that failure may not be the policy's doing."""

    @property
    def changed(self) -> bool:
        """Whether the replayed decision differs (strategy or whether it ends the job)."""
        return (self.recorded, self.recorded_terminal) != (self.replayed, self.replayed_terminal)


@dataclass(frozen=True, slots=True)
class JobReplay:
    """One job: each compared failure, the verdict and the attempt/GPU estimates.

    ``*_replayed`` are (low, high) estimates; both equal the recorded figure when the
    job would have ended the same way.
    """

    job_id: str
    verdict: Verdict
    compared: tuple[Compared, ...] = ()
    attempts_recorded: int = 0
    attempts_replayed: tuple[int, int] = (0, 0)
    gpu_s_recorded: float = 0.0
    gpu_s_replayed: tuple[float, float] = (0.0, 0.0)
    note: str = ""


@dataclass(frozen=True, slots=True)
class _Attempts:
    """The job's recorded attempts: number → GPU-seconds (dispatch to end)."""

    seconds: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Sequence[JobEvent]) -> _Attempts:
        started: dict[int, datetime] = {}
        seconds: dict[int, float] = {}
        for e in events:
            if isinstance(e, JobDispatched):
                started.setdefault(e.attempt, e.occurred_at)
            elif isinstance(e, JobCompleted | JobFailed) and e.attempt not in seconds:
                if isinstance(e, JobFailed) and e.evidence.observation == NO_BACKEND:
                    continue  # never reached a backend: not an attempt
                begin = started.get(e.attempt)
                measured = (e.occurred_at - begin).total_seconds() if begin else 0.0
                if isinstance(e, JobCompleted) and e.duration_s > 0:
                    measured = e.duration_s
                seconds[e.attempt] = max(measured, 0.0)
        for attempt in started:
            seconds.setdefault(attempt, 0.0)  # dispatched, no outcome recorded
        return cls(seconds)

    def upto(self, attempt: int) -> tuple[int, float]:
        """Attempts numbered ≤ `attempt`, and their GPU-seconds."""
        kept = [s for a, s in self.seconds.items() if a <= attempt]
        return len(kept), sum(kept)

    @property
    def total(self) -> tuple[int, float]:
        """Every attempt, and their GPU-seconds."""
        return len(self.seconds), sum(self.seconds.values())


def replay_job(
    events: Sequence[JobEvent],
    policy_for: PolicyFor,
    inventory_at: InventoryAt,
    tuning: Tuning = DEFAULT_TUNING,
    *,
    baseline: PolicyFor | None = None,
) -> JobReplay:
    """Decide every recorded failure of one job again (see the module's rules); with
    `baseline` (the recorded policy), also check that it reproduces each recorded decision."""
    job_id = events[0].job_id if events else "?"
    attempts = _Attempts.of(events)
    n_recorded, gpu_recorded = attempts.total
    same = JobReplay(
        job_id,
        "unchanged",
        attempts_recorded=n_recorded,
        attempts_replayed=(n_recorded, n_recorded),
        gpu_s_recorded=gpu_recorded,
        gpu_s_replayed=(gpu_recorded, gpu_recorded),
    )
    decided = {e.answers_event_id: e for e in events if isinstance(e, RecoveryDecided)}
    state: JobState | None = None
    compared: list[Compared] = []
    for event in events:
        try:
            state = apply(state, event)
        except DomainError as exc:
            return replace_verdict(same, "skipped", compared, note=str(exc))
        recorded = decided.get(event.event_id)
        if not isinstance(event, FailureClassified) or recorded is None:
            continue
        at, backends = recorded.occurred_at, inventory_at(recorded.occurred_at)
        ours = decide_as_service(state, event, policy_for(state), backends, at, tuning)
        again = (
            None
            if baseline is None
            else decide_as_service(state, event, baseline(state), backends, at, tuning)
        )
        compared.append(_compare(event, recorded, ours, again))
        if ours.terminal and not recorded.terminal:
            kept, kept_s = attempts.upto(event.attempt)
            result = replace_verdict(same, "aborted_earlier", compared)
            return _with(result, (kept, kept), (kept_s, kept_s))
        if recorded.terminal and not ours.terminal and not _cancelled(recorded):
            return _saved(
                same, compared, attempts, state, event, ours, policy_for, inventory_at, tuning
            )
    verdict: Verdict = "changed" if any(c.changed for c in compared) else "unchanged"
    return replace_verdict(same, verdict, compared)


def replace_verdict(
    job: JobReplay, verdict: Verdict, compared: Iterable[Compared], note: str = ""
) -> JobReplay:
    """`job` with another verdict, comparisons and note."""
    return JobReplay(
        job.job_id,
        verdict,
        tuple(compared),
        job.attempts_recorded,
        job.attempts_replayed,
        job.gpu_s_recorded,
        job.gpu_s_replayed,
        note,
    )


def _with(job: JobReplay, attempts: tuple[int, int], gpu: tuple[float, float]) -> JobReplay:
    return JobReplay(
        job.job_id,
        job.verdict,
        job.compared,
        job.attempts_recorded,
        attempts,
        job.gpu_s_recorded,
        (round(gpu[0], 3), round(gpu[1], 3)),
        job.note,
    )


def _compare(
    failure: FailureClassified, recorded: RecoveryDecided, ours: Decision, again: Decision | None
) -> Compared:
    return Compared(
        failure_event_id=failure.event_id,
        attempt=failure.attempt,
        failure_class=failure.failure_class.value,
        recorded=recorded.strategy.value,
        recorded_terminal=recorded.terminal,
        replayed=ours.strategy.value,
        replayed_terminal=ours.terminal,
        replayed_reason=ours.reason,
        reproduced=None
        if again is None
        else (again.strategy, again.terminal) == (recorded.strategy, recorded.terminal),
    )


def _cancelled(recorded: RecoveryDecided) -> bool:
    return any(isinstance(a, Abort) and a.cancelled for a in recorded.actions)


def _saved(
    same: JobReplay,
    compared: list[Compared],
    attempts: _Attempts,
    state: JobState,
    failure: FailureClassified,
    ours: Decision,
    policy_for: PolicyFor,
    inventory_at: InventoryAt,
    tuning: Tuning,
) -> JobReplay:
    """The job would have gone on: one more attempt at least, at most until the policy
    ends it if the same failure kept recurring."""
    kept, kept_s = attempts.upto(failure.attempt)
    mean = kept_s / kept if kept else 0.0
    most = recurrences(state, failure, ours, policy_for, inventory_at, tuning)
    result = replace_verdict(same, "saved", compared)
    return _with(result, (kept + 1, kept + most), (kept_s + mean, kept_s + mean * most))
