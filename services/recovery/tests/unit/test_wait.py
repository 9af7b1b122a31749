"""Not having capacity now is not a failure: jobs wait (visibly, bounded, for free)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from contracts.backend import BreakerState
from contracts.job import FailureEvidence, JobFailed
from contracts.policy import RecoveryPolicy
from contracts.recovery import Abort, Dispatch
from contracts.taxonomy import FailureClass, Strategy
from recovery import budget
from recovery.decide import decide
from recovery.decision import Decision
from recovery.inventory import Inventory
from recovery.job_state import JobState
from recovery.view import view_of
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    dispatched,
    failed_state,
    fold,
    inventory,
    rng,
    sd15,
    submitted,
)

C = FailureClass
OPEN = BreakerState.OPEN
DOWN = inventory(
    backend("gpu-a", breaker=OPEN),
    backend("gpu-b", reachable=False),
    backend("gpu-c", breaker=OPEN),
)
UP = inventory(backend("gpu-a"), backend("gpu-b"), backend("gpu-c"))
NO_BACKEND = FailureEvidence(surface="client", observation="no_backend", message="none")


def idle(attempt: int, at: datetime) -> tuple[JobFailed, object]:
    """The submitter's "no backend could take attempt N" and its classification."""
    failure = classified(C.BACKEND_UNREACHABLE, attempt=attempt, backend_id=None)
    failure = type(failure)(
        **{
            **{f: getattr(failure, f) for f in failure.__struct_fields__},
            "evidence": NO_BACKEND,
            "occurred_at": at,
            "event_id": f"idle-{attempt}",
        }
    )
    raw = JobFailed(
        event_id=f"job-1:failed:{attempt}",
        job_id="job-1",
        attempt=attempt,
        occurred_at=at,
        source="test",
        evidence=NO_BACKEND,
    )
    return raw, failure


def step(
    state: JobState, failure: object, farm: Inventory, now: datetime
) -> tuple[JobState, Decision]:
    policy = state.policy or RecoveryPolicy()
    decision = decide(state, failure, policy, farm, now, rng())  # type: ignore[arg-type]
    return fold(decision.to_event("test"), state=state), decision


def dispatch_of(decision: Decision) -> Dispatch:
    return next(a for a in decision.actions if isinstance(a, Dispatch))


def test_a_job_never_dispatched_waits_for_free_and_says_why() -> None:
    state = fold(submitted())
    raw, failure = idle(1, T0)
    state = fold(raw, failure, state=state)
    state, decision = step(state, failure, DOWN, T0)
    d = dispatch_of(decision)
    assert not decision.terminal and d.wait_until == T0 + timedelta(seconds=600)
    assert d.attempt == 2 and budget.attempts_used(state) == 1  # the wait's own dispatch only
    reason = view_of(state).waiting_reason
    assert reason is not None and "gpu-a: breaker open" in reason and "gpu-b: unreachable" in reason
    dispatched_state = fold(dispatched(attempt=2), state=state)
    assert view_of(dispatched_state).waiting_reason is None
    assert budget.attempts_used(dispatched_state) == 1


def test_many_idle_rounds_use_no_attempts_or_class_recoveries() -> None:
    state = fold(submitted())
    for attempt in range(1, 9):
        raw, failure = idle(attempt, T0 + timedelta(seconds=attempt))
        state = fold(raw, failure, state=state)
        state, decision = step(state, failure, DOWN, T0 + timedelta(seconds=attempt))
        assert not decision.terminal
    assert budget.attempts_used(state) == 1
    assert budget.class_recoveries(state, C.BACKEND_UNREACHABLE) == 0


def test_an_idle_attempt_is_held_for_the_submitter_even_when_a_backend_looks_usable() -> None:
    # recovery sees gpu-a usable, the submitter saw none (e.g. its probe is running): a
    # plain dispatch would bounce straight back; a held one goes the moment it can
    state = fold(submitted())
    raw, failure = idle(1, T0)
    state, decision = step(fold(raw, failure, state=state), failure, UP, T0)
    d = dispatch_of(decision)
    assert d.wait_until is not None and d.backend_hint == "gpu-a"


def test_the_wait_ends_at_max_wait_with_what_to_fix() -> None:
    state = fold(submitted())
    raw, failure = idle(1, T0)
    state, _ = step(fold(raw, failure, state=state), failure, DOWN, T0)
    raw, failure = idle(2, T0 + timedelta(seconds=600))
    state = fold(raw, failure, state=state)
    _, decision = step(state, failure, DOWN, T0 + timedelta(seconds=600))
    abort = next(a for a in decision.actions if isinstance(a, Abort))
    assert decision.terminal and "no backend could take the job in time" in abort.reason
    assert any("comfy-recovery backends" in s for s in abort.actionable_steps)


def test_the_wait_is_bounded_by_the_deadline() -> None:
    state = fold(submitted(policy=RecoveryPolicy(deadline_s=100)))
    raw, failure = idle(1, T0)
    state = fold(raw, failure, state=state)
    _, decision = step(state, failure, DOWN, T0)
    assert dispatch_of(decision).wait_until == T0 + timedelta(seconds=100)


@pytest.mark.parametrize(
    ("cls", "strategy"),
    [
        (C.GPU_OOM, Strategy.FREE_VRAM),
        (C.INTERRUPTED, Strategy.RESUME),
        (C.STALLED, Strategy.INTERRUPT),
        (C.BACKEND_UNREACHABLE, Strategy.RETRY),
        (C.GPU_FAULT, Strategy.REROUTE),
        (C.HOST_OOM, Strategy.FREE_VRAM),
    ],
)
def test_a_failure_with_every_backend_out_waits_instead_of_aborting(
    cls: FailureClass, strategy: Strategy
) -> None:
    failure = classified(cls)
    state = failed_state(failure)
    _, decision = step(state, failure, DOWN, T0 + timedelta(seconds=2))
    assert not decision.terminal, decision.reason
    assert decision.strategy is strategy
    assert dispatch_of(decision).wait_until is not None
    assert decision.reason.startswith("waiting for a usable backend")


def test_a_failure_still_aborts_when_even_capacity_would_not_help() -> None:
    failure = classified(C.NODE_EXECUTION_ERROR)
    _, decision = step(failed_state(failure), failure, DOWN, T0)
    assert decision.terminal


def test_a_wait_past_its_bound_aborts_with_the_backends_named() -> None:
    failure = classified(C.INTERRUPTED)
    state = failed_state(failure, policy=RecoveryPolicy(max_wait_s=0))
    _, decision = step(state, failure, DOWN, T0 + timedelta(seconds=2))
    assert decision.terminal and "gpu-a: breaker open" in decision.reason


def test_a_job_no_backend_can_run_is_aborted_naming_what_is_missing() -> None:
    # its first dispatch failed at the connection; no backend could run it anyway
    graph = sd15()
    graph["10"] = {"class_type": "FaceDetailerPro", "inputs": {"image": ["8", 0]}}
    failure = classified(C.BACKEND_UNREACHABLE)
    _, decision = step(failed_state(failure, graph), failure, UP, T0 + timedelta(seconds=2))
    abort = next(a for a in decision.actions if isinstance(a, Abort))
    assert decision.terminal and "node class FaceDetailerPro missing" in abort.reason
    assert any("FaceDetailerPro" in s for s in abort.actionable_steps)
