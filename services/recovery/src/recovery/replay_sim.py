"""What-if replay's simulation: the decision core as the service calls it, and how many
dispatches a policy makes when a failure keeps recurring (`recovery.replay`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from msgspec.structs import replace

from contracts.failure import FailureClassified
from contracts.job import DispatchedPrompt, FailureEvidence, JobDispatched, JobFailed
from contracts.policy import RecoveryPolicy
from contracts.recovery import Dispatch
from recovery.decide import DEFAULT_TUNING, decide
from recovery.decision import Decision
from recovery.errors import DomainError
from recovery.inventory import Inventory
from recovery.job_state import JobState
from recovery.state_machine import apply
from recovery.strategies.context import Tuning

PolicyFor = Callable[[JobState], RecoveryPolicy]
"""The policy a job's failures are decided under, given its state."""
InventoryAt = Callable[[datetime], Inventory]
"""The backends as they were at a time (from recorded telemetry)."""
MAX_SIMULATED: Final = 50
"""Cap on the simulated recurrences of a saved job's failure."""


def decide_as_service(
    state: JobState,
    failure: FailureClassified,
    policy: RecoveryPolicy,
    backends: Inventory,
    at: datetime,
    tuning: Tuning = DEFAULT_TUNING,
) -> Decision:
    """The core's decision as the service takes it (its generator seeded by the failure)."""
    return decide(state, failure, policy, backends, at, random.Random(failure.event_id), tuning)


def recurrences(
    state: JobState,
    failure: FailureClassified,
    first: Decision,
    policy_for: PolicyFor,
    inventory_at: InventoryAt,
    tuning: Tuning = DEFAULT_TUNING,
) -> int:
    """Dispatches the policy makes from `first` on if every attempt fails like `failure`
    (≥ 1, capped at `MAX_SIMULATED`)."""
    decision, count = first, 0
    while count < MAX_SIMULATED:
        dispatch = next((a for a in decision.actions if isinstance(a, Dispatch)), None)
        if decision.terminal or dispatch is None:
            break
        count += 1
        at = decision.at + timedelta(seconds=decision.delay_s + 1)
        backend = dispatch.backend_hint or failure.backend_id or "?"
        failure = _recurred(failure, dispatch.attempt, backend, at)
        try:
            state = _fold_attempt(state, decision, failure)
        except DomainError:
            break
        decision = decide_as_service(
            state, failure, policy_for(state), inventory_at(at), at, tuning
        )
    return max(count, 1)


def _recurred(
    failure: FailureClassified, attempt: int, backend: str, at: datetime
) -> FailureClassified:
    return replace(
        failure,
        event_id=f"{failure.event_id}~{attempt}",
        failed_event_id=f"{failure.failed_event_id}~{attempt}",
        attempt=attempt,
        backend_id=backend,
        occurred_at=at,
    )


def _fold_attempt(state: JobState, decision: Decision, failure: FailureClassified) -> JobState:
    """The state after `decision`, its dispatch and the same failure again."""
    state = apply(state, decision.to_event("replay"))
    backend = failure.backend_id or "?"
    state = apply(
        state,
        JobDispatched(
            event_id=f"{failure.event_id}:dispatched",
            job_id=state.job_id,
            attempt=failure.attempt,
            occurred_at=failure.occurred_at,
            source="replay",
            backend_id=backend,
            prompts=[DispatchedPrompt(prompt_id=f"{failure.event_id}:prompt")],
            client_id="replay",
        ),
    )
    state = apply(
        state,
        JobFailed(
            event_id=failure.failed_event_id,
            job_id=state.job_id,
            attempt=failure.attempt,
            occurred_at=failure.occurred_at,
            source="replay",
            backend_id=backend,
            evidence=failure.evidence or FailureEvidence(surface="replay"),
        ),
    )
    return apply(state, failure)
