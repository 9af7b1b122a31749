"""decide() per TAXONOMY.md class: the first decision, then how each chain goes on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from classifier.messages import compose
from contracts.job import FailureEvidence
from contracts.policy import RecoveryPolicy
from contracts.recovery import Abort, Dispatch, Interrupt, QuarantineBackend, UploadInput
from contracts.taxonomy import FailureClass, Strategy
from recovery.budget import bad_backends
from recovery.decide import decide, needs_decision
from recovery.decision import Decision
from recovery.job_state import JobState
from recovery.strategies.abort import AUTOMATIC
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    dispatched,
    failed,
    failed_state,
    fold,
    inventory,
    rng,
    sd15,
    validation_error,
)

C = FailureClass
S = Strategy
FARM = inventory(
    backend("gpu-a"),
    backend("gpu-b"),
    backend("gpu-c", version="0.34.0", device="rocm", device_name="AMD MI300X"),
)
CLAMPABLE = FailureEvidence(
    surface="validation",
    node_errors=[
        validation_error("5", "width", "value_bigger_than_max", 20000, min=16, max=16384, step=8)
    ],
)
EXTRA: dict[FailureClass, dict[str, Any]] = {
    C.MODEL_MISSING: {
        "features": {"model_name": "v1-5-pruned-emaonly.safetensors", "node_id": "4"}
    },
    C.MODEL_CORRUPT: {
        "features": {"model_name": "v1-5-pruned-emaonly.safetensors", "node_id": "4"}
    },
    C.NODE_MISSING: {"features": {"node_class": "KSampler"}},
    C.INVALID_PARAMETERS: {"evidence": CLAMPABLE, "features": {"clampable": True}},
}
FIRST: dict[FailureClass, tuple[Strategy, str | None]] = {
    C.GPU_OOM: (S.FREE_VRAM, "gpu-a"),
    C.HOST_OOM: (S.FREE_VRAM, "gpu-a"),
    C.DISK_FULL: (S.REROUTE, "gpu-b"),
    C.GPU_FAULT: (S.REROUTE, "gpu-b"),
    C.BACKEND_UNSUPPORTED: (S.REROUTE, "gpu-c"),
    C.BACKEND_WEDGED: (S.QUARANTINE_BACKEND, "gpu-b"),
    C.BACKEND_UNREACHABLE: (S.RETRY, "gpu-a"),
    C.BACKEND_ERROR: (S.RETRY, "gpu-a"),
    C.EXTERNAL_SERVICE_ERROR: (S.RETRY, "gpu-a"),
    C.TIMEOUT: (S.RESUME, "gpu-a"),
    C.STALLED: (S.INTERRUPT, "gpu-a"),
    C.INTERRUPTED: (S.RESUME, "gpu-a"),
    C.MODEL_MISSING: (S.REROUTE, "gpu-b"),
    C.MODEL_CORRUPT: (S.REROUTE, "gpu-b"),
    C.MODEL_INCOMPATIBLE: (S.REROUTE, "gpu-c"),
    C.NODE_MISSING: (S.REROUTE, "gpu-b"),
    C.DEPENDENCY_MISSING: (S.REROUTE, "gpu-c"),
    C.INPUT_MISSING: (S.RE_UPLOAD_INPUT, "gpu-a"),
    C.INVALID_WORKFLOW: (S.ABORT, None),
    C.INVALID_PARAMETERS: (S.CLAMP_PARAMS, "gpu-a"),
    C.NODE_EXECUTION_ERROR: (S.ABORT, None),
    C.PERMISSION_DENIED: (S.ABORT, None),
    C.OUTPUT_MISSING: (S.RESUME, "gpu-a"),
    C.CANCELLED: (S.CANCEL, None),
    C.UNKNOWN: (S.RETRY, "gpu-a"),
}


def first(
    cls: FailureClass, policy: RecoveryPolicy | None = None, **extra: Any
) -> tuple[JobState, Decision]:
    failure = classified(cls, **{**EXTRA.get(cls, {}), **extra})
    graph = sd15(width=20000) if cls is C.INVALID_PARAMETERS else sd15()
    state = failed_state(failure, graph, inputs=("cat.png",))
    return state, decide(state, failure, policy or RecoveryPolicy(), FARM, T0, rng())


def again(
    state: JobState,
    decision: Decision,
    cls: FailureClass,
    policy: RecoveryPolicy | None = None,
    **extra: Any,
) -> tuple[JobState, Decision]:
    """Apply `decision`, dispatch its attempt where it said, and fail it with `cls`."""
    dispatch = decision.actions[-1]
    assert isinstance(dispatch, Dispatch)
    where = dispatch.backend_hint or "gpu-a"
    n = dispatch.attempt
    failure = classified(cls, attempt=n, backend_id=where, **{**EXTRA.get(cls, {}), **extra})
    state = fold(
        decision.to_event("test"),
        dispatched(attempt=n, backend_id=where),
        failed(attempt=n, backend_id=where),
        failure,
        state=state,
    )
    later = T0 + timedelta(seconds=n)
    return state, decide(state, failure, policy or RecoveryPolicy(), FARM, later, rng(n))


def test_every_class_has_a_row() -> None:
    assert set(FIRST) == set(FailureClass)


@pytest.mark.parametrize("cls", list(FailureClass))
def test_first_decision_of_each_class(cls: FailureClass) -> None:
    _, decision = first(cls)
    strategy, where = FIRST[cls]
    assert decision.strategy is strategy, decision.reason
    assert decision.failure_class is cls
    last = decision.actions[-1]
    if where is None:
        assert decision.terminal and isinstance(last, Abort)
        assert last.user_message and last.reason
    else:
        assert not decision.terminal and isinstance(last, Dispatch)
        assert last.backend_hint == where
        assert last.attempt == 2


@pytest.mark.parametrize("cls", [C.INVALID_WORKFLOW, C.NODE_EXECUTION_ERROR, C.PERMISSION_DENIED])
def test_non_retryable_classes_abort_on_first_occurrence_with_steps(cls: FailureClass) -> None:
    _, decision = first(cls)
    abort = decision.actions[-1]
    assert isinstance(abort, Abort) and abort.actionable_steps
    assert "not retryable" in abort.reason


def test_a_non_retryable_verdict_of_the_classifier_is_trusted() -> None:
    failure = classified(C.INVALID_PARAMETERS, retryable=False, features={"clampable": False})
    state = failed_state(failure, sd15())
    assert decide(state, failure, RecoveryPolicy(), FARM, T0, rng()).terminal


def test_per_version_class_aborts_when_no_other_version_exists() -> None:
    failure = classified(C.MODEL_INCOMPATIBLE, features={"comfyui_version": "0.33.0"})
    state = failed_state(failure, sd15())
    decision = decide(
        state, failure, RecoveryPolicy(), inventory(backend("gpu-a"), backend("gpu-b")), T0, rng()
    )
    assert decision.terminal


def test_per_version_reroute_requires_another_version() -> None:
    _, decision = first(C.DEPENDENCY_MISSING)
    dispatch = decision.actions[-1]
    assert isinstance(dispatch, Dispatch)
    assert dispatch.require_version_other_than == "0.33.0"
    assert "gpu-a" in dispatch.exclude_backends


def test_backend_unsupported_goes_to_another_device_type() -> None:
    _, decision = first(C.BACKEND_UNSUPPORTED)
    dispatch = decision.actions[-1]
    assert isinstance(dispatch, Dispatch) and dispatch.require_device_other_than == "cuda"


def test_gpu_fault_moves_the_job_and_leaves_the_gpu_to_its_breaker() -> None:
    # one job's GPU fault counts in the GPU's failure rate; it does not quarantine it
    _, decision = first(C.GPU_FAULT)
    assert not any(isinstance(a, QuarantineBackend) for a in decision.actions)
    dispatch = decision.actions[-1]
    assert isinstance(dispatch, Dispatch) and "gpu-a" in dispatch.exclude_backends


def test_wedged_backend_is_quarantined_with_a_restart_request() -> None:
    _, decision = first(C.BACKEND_WEDGED)
    quarantine = decision.actions[0]
    assert isinstance(quarantine, QuarantineBackend) and quarantine.restart_requested


def test_stalled_prompt_is_interrupted_by_id_then_resumed_on_the_same_backend() -> None:
    _, decision = first(C.STALLED)
    interrupt, dispatch = decision.actions
    assert interrupt == Interrupt(
        backend_id="gpu-a", prompt_id="job-1-p1-0", reason=interrupt.reason
    )
    assert isinstance(dispatch, Dispatch) and dispatch.resume


def test_a_stall_that_repeats_moves_the_job_without_quarantining_the_backend() -> None:
    # one stuck workflow is the job's problem: the breaker judges the GPU (two jobs)
    state, decision = first(C.STALLED)
    _, second = again(state, decision, C.STALLED)
    assert second.strategy is S.REROUTE and S.INTERRUPT in second.strategies
    assert not any(isinstance(a, QuarantineBackend) for a in second.actions)
    assert second.actions[-1].backend_hint == "gpu-b"  # type: ignore[union-attr]


def test_input_missing_uploads_the_held_input_then_runs_again_once() -> None:
    state, decision = first(C.INPUT_MISSING)
    assert decision.actions[0] == UploadInput(name="cat.png")
    _, second = again(state, decision, C.INPUT_MISSING)
    assert second.terminal


def test_clamp_brings_the_value_inside_the_schema_range() -> None:
    _, decision = first(C.INVALID_PARAMETERS)
    dispatch = decision.actions[-1]
    assert isinstance(dispatch, Dispatch)
    assert dispatch.workflows[0]["5"]["inputs"]["width"] == 16384
    assert (decision.changes[0].before, decision.changes[0].after) == (20000, 16384)


def test_unreachable_backend_is_retried_with_backoff_then_rerouted() -> None:
    state, one = first(C.BACKEND_UNREACHABLE)
    state, two = again(state, one, C.BACKEND_UNREACHABLE)
    _, three = again(state, two, C.BACKEND_UNREACHABLE)
    assert [one.strategy, two.strategy, three.strategy] == [S.RETRY, S.RETRY, S.REROUTE]
    assert 1.5 <= one.delay_s <= 2.5 and 3.0 <= two.delay_s <= 5.0
    dispatch = one.actions[-1]
    assert isinstance(dispatch, Dispatch) and dispatch.not_before == T0 + timedelta(
        seconds=one.delay_s
    )


def test_unknown_is_retried_exactly_once() -> None:
    state, one = first(C.UNKNOWN)
    _, two = again(state, one, C.UNKNOWN)
    assert (one.strategy, two.strategy) == (S.RETRY, S.ABORT)


def test_output_missing_reruns_only_the_output_nodes_once() -> None:
    state, one = first(C.OUTPUT_MISSING)
    assert [(c.node, c.input) for c in one.changes] == [("9", "filename_prefix")]
    _, two = again(state, one, C.OUTPUT_MISSING)
    assert two.terminal


def test_the_attempt_budget_ends_the_job_after_max_attempts_dispatches() -> None:
    policy = RecoveryPolicy(max_attempts=2)
    state, one = first(C.EXTERNAL_SERVICE_ERROR, policy)
    assert not one.terminal
    dispatch = one.actions[-1]
    assert isinstance(dispatch, Dispatch)
    failure = classified(C.EXTERNAL_SERVICE_ERROR, attempt=2)
    state = fold(one.to_event("t"), dispatched(attempt=2), failed(attempt=2), failure, state=state)
    last = decide(state, failure, policy, FARM, T0, rng())
    assert last.terminal and "2 attempts" in last.reason


def test_the_deadline_stops_the_job() -> None:
    failure = classified(C.BACKEND_ERROR)
    state = failed_state(failure, sd15())
    late = T0 + timedelta(seconds=61)
    decision = decide(state, failure, RecoveryPolicy(deadline_s=60), FARM, late, rng())
    assert decision.terminal and "deadline" in decision.reason


def test_an_overdue_job_is_interrupted_by_prompt_id_when_it_is_aborted() -> None:
    failure = classified(C.TIMEOUT)
    state = failed_state(failure, sd15())
    late = T0 + timedelta(seconds=61)
    decision = decide(state, failure, RecoveryPolicy(deadline_s=60), FARM, late, rng())
    assert decision.terminal
    interrupts = [a for a in decision.actions if isinstance(a, Interrupt)]
    assert interrupts and all(a.prompt_id for a in interrupts)
    assert S.INTERRUPT in decision.strategies


def test_a_retry_whose_delay_would_pass_the_deadline_is_not_taken() -> None:
    failure = classified(C.EXTERNAL_SERVICE_ERROR)
    state = failed_state(failure, sd15())
    decision = decide(state, failure, RecoveryPolicy(deadline_s=1.0), FARM, T0, rng())
    assert decision.terminal


def test_per_class_limit_from_the_policy_is_obeyed() -> None:
    policy = RecoveryPolicy(per_class_limits={"BACKEND_ERROR": 0})
    _, decision = first(C.BACKEND_ERROR, policy)
    assert decision.terminal and "limit" in decision.reason


def test_the_decision_id_is_derived_from_the_failure_so_it_never_differs() -> None:
    state, one = first(C.BACKEND_ERROR)
    failure = classified(C.BACKEND_ERROR, **EXTRA.get(C.BACKEND_ERROR, {}))
    repeat = decide(state, failure, RecoveryPolicy(), FARM, T0, rng())
    assert one.event_id == repeat.event_id and one.to_event("x") == repeat.to_event("x")


def test_an_answered_failure_needs_no_new_decision() -> None:
    state, decision = first(C.BACKEND_ERROR)
    failure = classified(C.BACKEND_ERROR)
    after = fold(decision.to_event("t"), state=state)
    assert needs_decision(state, failure)
    assert not needs_decision(after, failure)


def test_a_second_failure_of_an_attempt_already_answered_is_stale() -> None:
    state, decision = first(C.BACKEND_ERROR)
    after = fold(decision.to_event("t"), state=state)
    other_part = classified(C.BACKEND_ERROR, event_id="second-part")
    assert not needs_decision(fold(other_part, state=after), other_part)


def test_losses_to_backend_incidents_past_the_first_cost_no_attempt() -> None:
    """A crash or restart loses the prompts a backend held: the backend's fault. With two
    attempts allowed, a job that lost its first attempt to a crash and its second to a
    restart elsewhere still gets its third dispatch; an ordinary failure after that is
    charged again and ends it."""
    policy = RecoveryPolicy(max_attempts=2)
    state, one = first(C.INTERRUPTED, policy)
    assert not one.terminal
    state, two = again(state, one, C.INTERRUPTED, policy)
    assert not two.terminal, two.reason
    state, three = again(state, two, C.EXTERNAL_SERVICE_ERROR, policy)
    assert three.terminal and "2 attempts" in three.reason


RUNNING = FailureEvidence(surface="monitor", observation="prompt_lost", node_id="3")
"""A lost prompt that was executing (the monitor names its node)."""
WAITING = FailureEvidence(surface="monitor", observation="prompt_lost")
"""A lost prompt that only waited in the queue."""


def test_losses_while_executing_are_bounded_by_their_class_limit() -> None:
    """A job whose own prompt is running at every crash may be the one crashing them."""
    policy = RecoveryPolicy(max_attempts=2, per_class_limits={"INTERRUPTED": 1})
    state, one = first(C.INTERRUPTED, policy, evidence=RUNNING)
    _, two = again(state, one, C.INTERRUPTED, policy, evidence=RUNNING)
    assert two.terminal and "limit" in two.reason


def test_a_prompt_lost_while_queued_is_resumed_however_often_it_happens() -> None:
    """Crashes and restarts of busy backends take the prompts waiting in their queues: none
    of it is the job's doing, so neither the class limit nor the chain's step uses end it
    (its deadline, the wait bound and the breakers do)."""
    policy = RecoveryPolicy(max_attempts=2, per_class_limits={"INTERRUPTED": 1})
    state, decision = first(C.INTERRUPTED, policy, evidence=RUNNING)
    for _ in range(5):
        state, decision = again(state, decision, C.INTERRUPTED, policy, evidence=WAITING)
        assert not decision.terminal and decision.strategy is S.RESUME, decision.reason
    _, last = again(state, decision, C.INTERRUPTED, policy, evidence=RUNNING)
    assert last.terminal and "limit" in last.reason


def test_queued_losses_leave_the_chain_to_the_jobs_own_interruption() -> None:
    """Two crashes take the job's queued prompt; then its own run is interrupted. The queued
    losses used none of the chain's resumes, so that interruption is resumed too."""
    policy = RecoveryPolicy()
    state, decision = first(C.INTERRUPTED, evidence=WAITING)
    state, decision = again(state, decision, C.INTERRUPTED, policy, evidence=WAITING)
    state, decision = again(state, decision, C.INTERRUPTED, policy, evidence=RUNNING)
    assert not decision.terminal and decision.strategy is S.RESUME, decision.reason


def test_a_prompt_lost_with_its_process_goes_wherever_there_is_room() -> None:
    """After a crash or restart nothing is cached on that backend: the submitter picks the
    least loaded backend (no hint) instead of queueing the job behind the restarted one's
    backlog; a prompt interrupted on a live backend goes back to its cache."""
    _, lost = first(C.INTERRUPTED, evidence=WAITING)
    [dispatch] = [a for a in lost.actions if isinstance(a, Dispatch)]
    assert dispatch.backend_hint is None and not lost.terminal
    interrupted = FailureEvidence(surface="execution_interrupted", node_id="3")
    _, live = first(C.INTERRUPTED, evidence=interrupted)
    [dispatch] = [a for a in live.actions if isinstance(a, Dispatch)]
    assert dispatch.backend_hint == "gpu-a" and dispatch.resume


WEDGED_HOLDING = FailureEvidence(surface="monitor", observation="wedged")
"""The prompt a dead worker took (listed as running, never started)."""
WEDGED_BEHIND = FailureEvidence(surface="monitor", observation="wedged", queued=True)
"""A prompt queued behind a dead worker."""


def test_prompts_queued_behind_wedged_workers_are_moved_however_often_it_happens() -> None:
    """Being queued behind a dead worker says nothing about the job: three wedges in a row do
    not end it. The prompt the worker held counts toward the class's limit (a job that
    wedges every backend it meets still ends)."""
    policy = RecoveryPolicy(max_attempts=2)
    state, decision = first(C.BACKEND_WEDGED, policy, evidence=WEDGED_BEHIND)
    for _ in range(3):
        state, decision = again(state, decision, C.BACKEND_WEDGED, policy, evidence=WEDGED_BEHIND)
        assert not decision.terminal, decision.reason
    ends = []
    for _ in range(3):
        state, decision = again(state, decision, C.BACKEND_WEDGED, policy, evidence=WEDGED_HOLDING)
        ends.append(decision.terminal)
    assert ends == [False, False, True] and "limit" in decision.reason, decision.reason


def test_an_abort_keeps_only_the_steps_a_person_takes() -> None:
    """The classifier's steps narrate what recovery does next ("The job is resumed
    automatically."); once the job ends they would be a false promise."""
    policy = RecoveryPolicy(per_class_limits={"INTERRUPTED": 0, "BACKEND_UNREACHABLE": 0})
    for cls in (C.INTERRUPTED, C.BACKEND_UNREACHABLE):
        steps = ["The job is resumed automatically.", "Check that ComfyUI is running."]
        failure = msgspec.structs.replace(classified(cls, evidence=RUNNING), actionable_steps=steps)
        state = failed_state(failure, sd15())
        decision = decide(state, failure, policy, FARM, T0, rng())
        [end] = [a for a in decision.actions if isinstance(a, Abort)]
        assert decision.terminal and end.actionable_steps == ["Check that ComfyUI is running."]


@pytest.mark.parametrize("cls", list(C))
def test_no_step_the_classifier_writes_survives_an_abort_as_a_promise(cls: FailureClass) -> None:
    _, steps = compose(cls, {})
    kept = [step for step in steps if not AUTOMATIC.search(step)]
    promises = ("retried", "resumed", "automatically", "moves to", "uploaded again")
    assert not [s for s in kept if any(p in s for p in promises)], kept


def test_a_wedge_bars_no_backend_for_the_job_but_a_full_disk_does() -> None:
    """A wedged worker is restarted and its breaker says when it takes work again; a full
    disk or a faulty GPU stays with that backend for this job."""
    wedged, _ = first(C.BACKEND_WEDGED)
    assert bad_backends(wedged) == frozenset()
    full, _ = first(C.DISK_FULL)
    assert bad_backends(full) == {"gpu-a"}


def test_a_job_moved_off_a_corrupt_model_is_not_sent_back_when_its_new_backend_dies() -> None:
    """MODEL_CORRUPT on gpu-a moves the job to gpu-b; gpu-b then drops the prompt. The next
    dispatch must still avoid gpu-a (the corrupt file is still there), not just gpu-b."""
    state, decision = first(C.MODEL_CORRUPT)
    [moved] = [a for a in decision.actions if isinstance(a, Dispatch)]
    assert moved.backend_hint == "gpu-b" and "gpu-a" in moved.exclude_backends
    state, decision = again(state, decision, C.BACKEND_UNREACHABLE)
    assert "gpu-a" in bad_backends(state)
    [next_dispatch] = [a for a in decision.actions if isinstance(a, Dispatch)]
    assert "gpu-a" in next_dispatch.exclude_backends
    assert next_dispatch.backend_hint != "gpu-a"
