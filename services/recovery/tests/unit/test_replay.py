"""What-if replay: recorded failures decided again under another policy, against
hand-computed cases (three jobs, their recorded decisions pinned first)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts.backend import BackendHealth, BackendInventory, BreakerChanged, BreakerState
from contracts.failure import FailureClassified
from contracts.job import DispatchedPrompt, FailureEvidence, JobCompleted, JobDispatched, JobFailed
from contracts.policy import RecoveryPolicy
from contracts.taxonomy import CLASS_INFO, FailureClass
from recovery.decide import decide
from recovery.inventory import Inventory
from recovery.replay import as_default, override, replay_job
from recovery.replay_report import inventory_from, summarize
from recovery.replay_sim import recurrences
from recovery.state_machine import JobEvent, apply
from services.recovery.tests.builders import GIB, T0, backend, inventory, sd15, submitted

C = FailureClass
FARM = inventory(backend("gpu-a", vram_gib=8))
BIG_OOM = {"requested_bytes": 4 * GIB, "allocated_bytes": 7 * GIB, "total_bytes": 8 * GIB}
"""Peak ~11 GiB on an 8 GiB GPU: no free/split helps, only a lower resolution."""
BATCH_OOM = {"requested_bytes": 2 * GIB, "allocated_bytes": 7 * GIB, "total_bytes": 8 * GIB}
"""Peak ~9 GiB: splitting a batch of 4 helps once, then only a lower resolution."""
DEGRADE = RecoveryPolicy(allow_degradation=True)
DEGRADE_2 = RecoveryPolicy(allow_degradation=True, max_attempts=2)


class Recorder:
    """Writes one job's history as the services would have: each decision is the core's
    answer under the recorded (default) policy, taken when the failure is classified."""

    def __init__(self, job_id: str, workflow: dict[str, Any]) -> None:
        self.job_id = job_id
        self.events: list[JobEvent] = [submitted(job_id, workflow)]
        self.state = apply(None, self.events[0])

    def add(self, event: JobEvent) -> None:
        self.events.append(event)
        self.state = apply(self.state, event)

    def attempt(self, n: int, start_s: float, end_s: float) -> None:
        self.add(
            JobDispatched(
                event_id=f"{self.job_id}:d{n}",
                job_id=self.job_id,
                attempt=n,
                occurred_at=T0 + timedelta(seconds=start_s),
                source="submitter",
                backend_id="gpu-a",
                prompts=[DispatchedPrompt(prompt_id=f"{self.job_id}-p{n}")],
                client_id="c",
            )
        )
        self.end_s = end_s

    def fails(self, n: int, cls: FailureClass, features: dict[str, Any]) -> str:
        at = T0 + timedelta(seconds=self.end_s)
        self.add(
            JobFailed(
                event_id=f"{self.job_id}:f{n}",
                job_id=self.job_id,
                attempt=n,
                occurred_at=at,
                source="monitor",
                backend_id="gpu-a",
                evidence=FailureEvidence(surface="execution_error", message="boom"),
            )
        )
        info = CLASS_INFO[cls]
        failure = FailureClassified(
            event_id=f"{self.job_id}:c{n}",
            job_id=self.job_id,
            attempt=n,
            occurred_at=at,
            source="classifier",
            failed_event_id=f"{self.job_id}:f{n}",
            failure_class=cls,
            error_code=info.error_code,
            retryable=info.retryable,
            retryability=info.retryability,
            severity=info.severity,
            rule="test",
            features=features,
            backend_id="gpu-a",
        )
        self.add(failure)
        decision = decide(
            self.state,
            failure,
            RecoveryPolicy(),
            FARM,
            at + timedelta(milliseconds=100),
            random.Random(failure.event_id),
        )
        self.add(decision.to_event("recovery"))
        return decision.strategy.value + (" (end)" if decision.terminal else "")

    def completes(self, n: int, duration_s: float) -> None:
        self.add(
            JobCompleted(
                event_id=f"{self.job_id}:ok{n}",
                job_id=self.job_id,
                attempt=n,
                occurred_at=T0 + timedelta(seconds=self.end_s),
                source="monitor",
                backend_id="gpu-a",
                prompt_ids=[f"{self.job_id}-p{n}"],
                duration_s=duration_s,
            )
        )


def history() -> dict[str, list[JobEvent]]:
    """Three recorded jobs (GPU-seconds per attempt in brackets):

    * oom-big: 1024² batch 1 → OOM [30 s] → ABORT.
    * oom-batch: 512² batch 4 → OOM [10 s] → REDUCE_PARAMS (split) → OOM [20 s] → ABORT.
    * unreachable: backend unreachable [5 s] → RETRY → again [5 s] → RETRY → completed
      [duration_s 40, which wins over the dispatch-to-end time].
    """
    big = Recorder("oom-big", sd15(batch=1, width=1024, height=1024))
    big.attempt(1, 10, 40)
    assert big.fails(1, C.GPU_OOM, BIG_OOM) == "ABORT (end)"

    batch = Recorder("oom-batch", sd15(batch=4))
    batch.attempt(1, 0, 10)
    assert batch.fails(1, C.GPU_OOM, BATCH_OOM) == "REDUCE_PARAMS"
    batch.attempt(2, 20, 40)
    assert batch.fails(2, C.GPU_OOM, BATCH_OOM) == "ABORT (end)"

    net = Recorder("unreachable", sd15())
    net.attempt(1, 0, 5)
    assert net.fails(1, C.BACKEND_UNREACHABLE, {}) == "RETRY"
    net.attempt(2, 10, 15)
    assert net.fails(2, C.BACKEND_UNREACHABLE, {}) == "RETRY"
    net.attempt(3, 20, 70)
    net.completes(3, duration_s=40)
    return {r.job_id: r.events for r in (big, batch, net)}


def replay_all(policy: RecoveryPolicy, farm: Inventory = FARM) -> dict[str, Any]:
    jobs = [
        replay_job(events, override(policy), lambda _t: farm, baseline=override(RecoveryPolicy()))
        for events in history().values()
    ]
    return summarize(jobs)


def test_the_recorded_policy_changes_nothing() -> None:
    report = replay_all(RecoveryPolicy())
    assert report["jobs"]["unchanged"] == 3
    assert report["decisions"] == {
        "compared": 5,
        "changed": 0,
        "by_class": {
            "BACKEND_UNREACHABLE": {"compared": 2, "changed": 0, "how": {}},
            "GPU_OOM": {"compared": 3, "changed": 0, "how": {}},
        },
        "reproduced": {"checked": 5, "same": 5},
    }
    assert report["attempts"] == {"recorded": 6, "replayed": [6, 6]}
    assert report["gpu_seconds"] == {"recorded": 110.0, "replayed": [110.0, 110.0]}
    assert report["differing_jobs"] == []


def test_degradation_with_two_attempts_saves_one_job_and_charges_no_second_outage() -> None:
    """oom-big: ABORT → REDUCE_PARAMS, saved; a second attempt is the policy's last, so
    attempts 1 → 2 and GPU 30 → 30 + 30 (its mean attempt). oom-batch: the split again,
    then ABORT again (2 attempts used): unchanged. unreachable: its second loss to an
    unreachable backend costs no attempt (only the first does), so with max_attempts=2 it
    still RETRYs as recorded: unchanged (3 attempts, 50 s).
    Totals: attempts 6 → 2 + 2 + 3 = 7; GPU 110 → 60 + 30 + 50 = 140."""
    report = replay_all(DEGRADE_2)
    assert report["jobs"] == {
        "replayed": 3,
        "unchanged": 2,
        "changed": 0,
        "saved": 1,
        "aborted_earlier": 0,
        "skipped": 0,
    }
    assert report["decisions"]["compared"] == 5
    assert report["decisions"]["changed"] == 1
    assert report["decisions"]["by_class"]["GPU_OOM"]["how"] == {"ABORT -> REDUCE_PARAMS": 1}
    assert report["decisions"]["by_class"]["BACKEND_UNREACHABLE"]["changed"] == 0
    assert report["attempts"] == {"recorded": 6, "replayed": [7, 7]}
    assert report["gpu_seconds"] == {"recorded": 110.0, "replayed": [140.0, 140.0]}
    verdicts = {j["job_id"]: j["verdict"] for j in report["differing_jobs"]}
    assert verdicts == {"oom-big": "saved"}


def test_degradation_turns_two_aborts_into_reductions() -> None:
    """oom-big at attempt 1 and oom-batch at attempt 2: ABORT → REDUCE_PARAMS. Lowest
    estimates: one more attempt each at the job's mean so far: oom-big 1 → 2 attempts,
    30 → 60 s; oom-batch 2 → 3, 30 → 45 s; unreachable unchanged (3, 50 s): 8 and 155 s.
    Highest: the same OOM recurring at the reduced size asks for the same peak, so the
    same share of the work fits: 424 x 0.41 and 336 x 0.66 are below the 256 px floor, so
    nothing applies after the reduction: highest = lowest."""
    report = replay_all(DEGRADE)
    assert report["jobs"]["saved"] == 2 and report["jobs"]["unchanged"] == 1
    assert report["decisions"]["changed"] == 2
    assert report["decisions"]["by_class"]["GPU_OOM"] == {
        "compared": 3,
        "changed": 2,
        "how": {"ABORT -> REDUCE_PARAMS": 2},
    }
    assert report["attempts"] == {"recorded": 6, "replayed": [8, 8]}
    assert report["gpu_seconds"] == {"recorded": 110.0, "replayed": [155.0, 155.0]}
    for job in report["differing_jobs"]:
        assert all(d["replayed"] == "REDUCE_PARAMS" for d in job["decisions"] if d["changed"])


def test_fewer_attempts_ends_the_retried_job_at_its_first_failure() -> None:
    """max_attempts=1: every first failure is the last. oom-batch ends at attempt 1
    (attempt 2 [20 s] saved), unreachable at attempt 1 (attempts 2 and 3 [5 + 40 s] saved);
    oom-big aborted there anyway."""
    report = replay_all(RecoveryPolicy(max_attempts=1))
    assert report["jobs"]["aborted_earlier"] == 2 and report["jobs"]["unchanged"] == 1
    assert report["attempts"] == {"recorded": 6, "replayed": [3, 3]}
    assert report["gpu_seconds"] == {"recorded": 110.0, "replayed": [45.0, 45.0]}


def test_recurrences_count_dispatches_until_the_policy_ends_the_job() -> None:
    """unreachable's first failure, recurring on every attempt: RETRY makes dispatch 2;
    recurrences at 2, 3, 4 make dispatches 3, 4, 5 (RETRY twice on the same backend, no
    other backend to reroute to, then the after-outage RETRY); at 5 all 5 attempts are
    used: 4 dispatches. With max_attempts=3 the same 4: losses to an unreachable backend
    past the first cost no attempt, so the class limit (4 recoveries) ends it, not the
    attempts. The saved OOM job: the reduction cannot be repeated (see above): 1."""
    for job_id, failure_index, policy, expected in [
        ("unreachable", 3, RecoveryPolicy(), 4),
        ("unreachable", 3, RecoveryPolicy(max_attempts=3), 4),
        ("oom-big", 3, RecoveryPolicy(allow_degradation=True, max_attempts=3), 1),
    ]:
        events = history()[job_id]
        state = None
        for event in events[: failure_index + 1]:  # up to the failure, not its decision
            state = apply(state, event)
        failure = events[failure_index]
        assert state is not None and isinstance(failure, FailureClassified)
        first = decide(state, failure, policy, FARM, T0, random.Random(failure.event_id))
        assert not first.terminal
        count = recurrences(state, failure, first, override(policy), lambda _t: FARM)
        assert count == expected, (job_id, policy)


def test_inputs_rebuilt_wrongly_show_as_decisions_not_reproduced() -> None:
    """With gpu-a rebuilt as holding no model at all, the recorded policy itself can no
    longer send the job back there: unreachable's RETRY and oom-batch's split are not
    reproduced, so those changes are not the policy's doing."""
    farm = inventory(backend("gpu-a", vram_gib=8, models={}))
    report = replay_all(RecoveryPolicy(), farm)
    # Both end at their first failure, so 3 decisions are compared; only oom-big's ABORT
    # is reproduced.
    assert report["decisions"]["compared"] == 3 and report["decisions"]["changed"] == 2
    assert report["decisions"]["reproduced"] == {"checked": 3, "same": 1}
    rows = {
        j["job_id"]: [(d["recorded"], d["replayed"], d["reproduced"]) for d in j["decisions"]]
        for j in report["differing_jobs"]
    }
    assert rows == {
        "oom-batch": [("REDUCE_PARAMS", "ABORT", False)],
        "unreachable": [("RETRY", "ABORT", False)],
    }


def test_as_default_keeps_the_jobs_own_policy() -> None:
    events = history()["oom-big"]
    own = submitted("oom-big", sd15(batch=1, width=1024, height=1024), policy=RecoveryPolicy())
    events = [own, *events[1:]]
    # The job's own policy says no degradation: the live default allowing it changes nothing.
    assert replay_job(events, as_default(DEGRADE), lambda _t: FARM).verdict == "unchanged"
    assert replay_job(events, override(DEGRADE), lambda _t: FARM).verdict == "saved"


def test_a_history_that_cannot_be_folded_is_skipped_with_the_reason() -> None:
    events = history()["oom-big"][1:]  # no job.submitted
    job = replay_job(events, override(DEGRADE), lambda _t: FARM)
    assert job.verdict == "skipped" and "unknown job" in job.note


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_inventory_is_the_telemetry_as_of_the_decision() -> None:
    env = {"job_id": "-", "source": "monitor"}
    at = inventory_from(
        [
            BackendInventory(
                event_id="i1",
                occurred_at=_at(0),
                backend_id="gpu-a",
                node_classes=["KSampler"],
                vram_total=8 * GIB,
                **env,
            ),
            BackendHealth(
                event_id="h1", occurred_at=_at(1), backend_id="gpu-a", reachable=True, **env
            ),
            BackendHealth(
                event_id="h2", occurred_at=_at(20), backend_id="gpu-a", reachable=False, **env
            ),
            BreakerChanged(
                event_id="b1",
                occurred_at=_at(30),
                backend_id="gpu-a",
                state=BreakerState.OPEN,
                previous=BreakerState.CLOSED,
                **env,
            ),
            BackendHealth(
                event_id="h3", occurred_at=_at(10), backend_id="gpu-b", reachable=True, **env
            ),
        ]
    )
    assert at(_at(-1)).backends == {}
    early = at(_at(5))
    assert set(early.backends) == {"gpu-a"}
    view = early.backends["gpu-a"]
    assert view.reachable is True and view.node_classes == frozenset({"KSampler"})
    assert view.vram_total == 8 * GIB and view.breaker is BreakerState.CLOSED
    late = at(_at(40))
    assert late.backends["gpu-a"].reachable is False
    assert late.backends["gpu-a"].breaker is BreakerState.OPEN
    assert late.backends["gpu-b"].reachable is True


@pytest.mark.parametrize("policy", [RecoveryPolicy(), DEGRADE, DEGRADE_2])
def test_replay_is_deterministic(policy: RecoveryPolicy) -> None:
    assert replay_all(policy) == replay_all(policy)
