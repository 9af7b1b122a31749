"""Properties of decide() and of the breaker, over generated jobs, farms and failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.backend import BreakerState
from contracts.job import FailureEvidence
from contracts.policy import RecoveryPolicy
from contracts.recovery import Dispatch
from contracts.taxonomy import CLASS_INFO, FailureClass, Retryability, Strategy
from recovery import breaker as br
from recovery.budget import COLLATERAL
from recovery.decide import decide
from recovery.decision import Decision
from recovery.graph import discover, int_at, requirements
from recovery.inventory import Inventory
from services.recovery.tests.builders import (
    ALL_MODELS,
    CORE_NODES,
    GIB,
    GRAPHS,
    T0,
    backend,
    classified,
    dispatched,
    failed,
    failed_state,
    fold,
    inventory,
    rng,
    validation_error,
)

C = FailureClass
NEVER = [c for c in FailureClass if CLASS_INFO[c].retryability is Retryability.NO]
ASKED = "v1-5-pruned-emaonly.safetensors"
EVIDENCE = {
    C.INVALID_PARAMETERS: FailureEvidence(
        surface="validation",
        node_errors=[validation_error("3", "steps", "value_bigger_than_max", 20, min=1, max=10)],
    )
}


@st.composite
def farms(draw: st.DrawFn) -> Inventory:
    views = []
    for name in ("gpu-a", "gpu-b", "gpu-c", "gpu-d")[: draw(st.integers(1, 4))]:
        drop = draw(st.sets(st.sampled_from(sorted(ALL_MODELS)), max_size=2))
        views.append(
            backend(
                name,
                vram_gib=draw(st.sampled_from([None, 8, 12, 16, 24, 48, 80])),
                version=draw(st.sampled_from(["0.33.0", "0.34.0"])),
                device=draw(st.sampled_from(["cuda", "rocm"])),
                breaker=draw(st.sampled_from(list(BreakerState))),
                reachable=draw(st.sampled_from([True, None, False])),
                models={f: [] if f in drop else names for f, names in ALL_MODELS.items()},
                node_classes=draw(
                    st.sampled_from([CORE_NODES, CORE_NODES - {"LatentFromBatch"}, None])
                ),
            )
        )
    return inventory(*views)


policies = st.builds(
    RecoveryPolicy,
    max_attempts=st.integers(1, 6),
    allow_degradation=st.booleans(),
    min_width=st.sampled_from([64, 256, 300, 512, 768]),
    min_height=st.sampled_from([64, 256, 300, 512, 768]),
    min_steps=st.integers(1, 30),
    fallback_models=st.sampled_from(
        [{}, {ASKED: ["dreamshaper_8.safetensors", "sd_xl_base_1.0.safetensors"]}]
    ),
)


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    size = draw(st.integers(16, 320)) * 8
    return GRAPHS[draw(st.sampled_from(sorted(GRAPHS)))](draw(st.integers(1, 9)), size)


@st.composite
def features(draw: st.DrawFn, cls: FailureClass) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cls in (C.GPU_OOM, C.HOST_OOM) and draw(st.booleans()):
        total = draw(st.sampled_from([8, 16, 24, 80])) * GIB
        out |= {
            "requested_bytes": draw(st.integers(1, 40 * GIB)),
            "total_bytes": total,
            "allocated_bytes": draw(st.integers(0, total)),
            "free_bytes": draw(st.integers(0, GIB)),
        }
    if cls in (C.GPU_OOM,) and draw(st.booleans()):
        out["node_id"] = draw(st.sampled_from(["8", "17", "7", "3"]))
    if cls in (C.MODEL_MISSING, C.MODEL_CORRUPT):
        out["model_name"] = ASKED
    if cls in (C.MODEL_INCOMPATIBLE, C.DEPENDENCY_MISSING, C.BACKEND_UNSUPPORTED) and draw(
        st.booleans()
    ):
        out |= {"comfyui_version": "0.33.0", "device_type": "cuda"}
    return out


ANY_CLASS = st.sampled_from(list(FailureClass))


@dataclass(frozen=True)
class Scenario:
    """A job, its policy, the farm, and the failures it will meet in turn."""

    graph: dict[str, Any]
    policy: RecoveryPolicy
    farm: Inventory
    failures: list[tuple[FailureClass, dict[str, Any]]]

    @property
    def original(self) -> dict[str, int | None]:
        gp = discover(self.graph)
        return {
            "width": int_at(self.graph, gp.width),
            "height": int_at(self.graph, gp.height),
            "steps": int_at(self.graph, gp.steps[0]),
        }


@st.composite
def scenarios(
    draw: st.DrawFn,
    classes: st.SearchStrategy[FailureClass] = ANY_CLASS,
    count: int = 5,
    policy: st.SearchStrategy[RecoveryPolicy] = policies,
) -> Scenario:
    chosen = [draw(classes) for _ in range(count)]
    return Scenario(
        draw(graphs()), draw(policy), draw(farms()), [(c, draw(features(c))) for c in chosen]
    )


def run_job(s: Scenario) -> list[Decision]:
    """Fail the job with each failure in turn, applying each decision, until one is terminal."""
    where, attempt = "gpu-a", 1
    state = None
    decisions: list[Decision] = []
    for i, (cls, found) in enumerate(s.failures):
        failure = classified(
            cls, attempt=attempt, backend_id=where, features=found, evidence=EVIDENCE.get(cls)
        )
        if state is None:
            state = failed_state(failure, s.graph)
        else:
            state = fold(
                dispatched(attempt=attempt, backend_id=where),
                failed(attempt=attempt, backend_id=where),
                failure,
                state=state,
            )
        decision = decide(state, failure, s.policy, s.farm, T0 + timedelta(seconds=i), rng(i))
        decisions.append(decision)
        if decision.terminal:
            break
        state = fold(decision.to_event("t"), state=state)
        dispatch = decision.actions[-1]
        assert isinstance(dispatch, Dispatch)
        where, attempt = dispatch.backend_hint or where, dispatch.attempt
    return decisions


def dispatches(decisions: list[Decision]) -> list[Dispatch]:
    return [d.actions[-1] for d in decisions if isinstance(d.actions[-1], Dispatch)]


@settings(max_examples=150, deadline=None)
@given(scenarios(count=7))
def test_every_job_ends_within_its_attempt_budget(s: Scenario) -> None:
    """Within `max_attempts`, plus the losses to backend incidents past the first (the
    backend's fault: charged once; their class limits bound them)."""
    decisions = run_job(s)
    lost = sum(1 for cls, _ in s.failures[: len(decisions)] if cls in COLLATERAL)
    budget = s.policy.max_attempts + max(0, lost - 1)
    # a job still going after every generated failure must have budget left for another one
    assert decisions[-1].terminal or len(decisions) < budget
    assert len(decisions) <= budget
    assert all(d.attempt <= budget for d in dispatches(decisions))


@settings(max_examples=100, deadline=None)
@given(scenarios(st.sampled_from(NEVER), count=1))
def test_a_non_retryable_class_is_aborted_on_its_first_occurrence(s: Scenario) -> None:
    decisions = run_job(s)
    assert len(decisions) == 1 and decisions[0].terminal


@settings(max_examples=100, deadline=None)
@given(scenarios(st.sampled_from([c for c in FailureClass if c not in NEVER]), count=1))
def test_a_failure_the_classifier_calls_non_retryable_is_aborted_unless_per_version(
    s: Scenario,
) -> None:
    ((cls, found),) = s.failures
    failure = classified(cls, retryable=False, features=found, evidence=EVIDENCE.get(cls))
    decision = decide(failed_state(failure, s.graph), failure, s.policy, s.farm, T0, rng())
    assert decision.terminal or CLASS_INFO[cls].retryability is Retryability.PER_VERSION
    if not decision.terminal:
        dispatch = decision.actions[-1]
        assert isinstance(dispatch, Dispatch)
        here = s.farm.get("gpu-a")
        failed_on = found.get("comfyui_version") or (here.comfyui_version if here else None)
        chosen = s.farm.get(dispatch.backend_hint)
        assert chosen is not None and chosen.comfyui_version != failed_on


@settings(max_examples=200, deadline=None)
@given(scenarios(st.sampled_from([C.GPU_OOM, C.HOST_OOM]), count=4))
def test_reduced_sizes_are_multiples_of_8_never_under_the_floors_and_only_if_allowed(
    s: Scenario,
) -> None:
    width, height = s.original["width"] or 0, s.original["height"] or 0
    for dispatch in dispatches(run_job(s)):
        new_w, new_h = dispatch.params["width"], dispatch.params["height"]
        if (new_w, new_h) == (width, height):
            continue
        assert s.policy.allow_degradation
        assert new_w % 8 == 0 and new_h % 8 == 0
        assert new_w >= s.policy.min_width and new_h >= s.policy.min_height
        assert new_w < width and new_h < height


STRICT = policies.map(lambda p: msgspec.structs.replace(p, allow_degradation=False))
# A clamp (INVALID_PARAMETERS) only brings an impossible value into the node's range.
NOT_CLAMPED = st.sampled_from([c for c in FailureClass if c is not C.INVALID_PARAMETERS])


@settings(max_examples=150, deadline=None)
@given(scenarios(NOT_CLAMPED, policy=STRICT))
def test_without_permission_nothing_is_degraded(s: Scenario) -> None:
    for dispatch in dispatches(run_job(s)):
        assert {k: dispatch.params.get(k) for k in s.original} == s.original


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_a_chosen_backend_has_every_node_and_model_and_may_take_work(s: Scenario) -> None:
    for decision in run_job(s):
        dispatch = decision.actions[-1]
        if not isinstance(dispatch, Dispatch):
            continue
        view = s.farm.get(dispatch.backend_hint)
        assert dispatch.backend_hint not in dispatch.exclude_backends
        if view is None:
            continue
        if view.node_classes is not None:
            assert view.can_run(requirements(dispatch.workflows))
        if view.breaker is BreakerState.OPEN or view.reachable is False:
            # Only a wait (or a delayed retry) is sent to a backend that is out.
            waits = dispatch.wait_until is not None
            assert waits or (decision.strategy is Strategy.RETRY and dispatch.not_before)


CFG = br.BreakerConfig(window_calls=6, window_s=50, min_calls=3, open_timeout_s=20, max_open_s=80)
ops = st.lists(
    st.tuples(
        st.sampled_from(["fail", "ok", "tick", "quarantine"]), st.floats(0, 15), st.integers(0, 5)
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_breaker_moves_only_along_the_state_machine(steps: list[tuple[str, float, int]]) -> None:
    b, now = br.Breaker("x"), 0.0
    for kind, dt, n in steps:
        now += dt
        before = br.tick(b, now, CFG)
        if kind == "fail":
            b = br.record_failure(b, f"f{n}", now, CFG, "", FailureClass.BACKEND_ERROR)
        elif kind == "ok":
            b = br.record_success(b, f"s{n}", now, CFG)
        elif kind == "tick":
            b = br.tick(b, now, CFG)
        else:
            b = br.quarantine(b, f"q{n}", now, "test", CFG)
        move = (before.state, b.state)
        assert (
            move[0] is move[1]
            or move in br.ALLOWED
            or (kind == "quarantine" and b.state is BreakerState.OPEN)
        )
        if b.state is BreakerState.OPEN and before.state is BreakerState.CLOSED and kind == "fail":
            recent = [c for c in before.calls if now - c[1] < CFG.window_s]
            calls = len(recent[-CFG.window_calls + 1 :]) + 1
            failed = sum(1 for c in recent[-CFG.window_calls + 1 :] if c[2] != "ok") + 1
            assert calls >= CFG.min_calls and failed >= CFG.failure_rate * calls
        if b.state is BreakerState.CLOSED and before.state is BreakerState.HALF_OPEN:
            assert kind == "ok"
        if b.state is BreakerState.OPEN:
            assert b.open_until is not None and b.opened_at is not None
            open_s = b.open_until - b.opened_at
            shortest = min(CFG.open_timeout_s, CFG.quarantine_s)
            assert shortest - 1e-6 <= open_s <= CFG.max_open_s + 1e-6
        if b.state is BreakerState.HALF_OPEN and before.state is BreakerState.HALF_OPEN:
            assert b.open_until is not None and now >= b.open_until
