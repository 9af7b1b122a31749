"""CLAMP_PARAMS with bounds from the node schema ComfyUI sends with the error."""

from __future__ import annotations

from contracts.job import FailureEvidence, NodeError
from contracts.policy import RecoveryPolicy
from contracts.recovery import Dispatch
from contracts.taxonomy import FailureClass, Strategy
from recovery.decide import decide
from recovery.decision import Decision
from recovery.graph import Ref
from recovery.strategies.clamp import Bound, clamped
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    failed_state,
    inventory,
    rng,
    sd15,
)


def test_values_are_clamped_into_the_range_on_the_step_grid() -> None:
    width = Bound(Ref("5", "width"), 16, 16384, 8, True)
    assert clamped(20000, width) == 16384
    assert clamped(3, width) == 16
    cfg = Bound(Ref("3", "cfg"), 0.0, 100.0, None, False)
    assert clamped(-1.0, cfg) == 0.0
    odd = Bound(Ref("x", "y"), 1, 10, 4, True)
    assert clamped(99, odd) == 9


def decide_on(error: NodeError, graph: dict) -> Decision:
    failure = classified(
        FailureClass.INVALID_PARAMETERS,
        evidence=FailureEvidence(surface="validation", node_errors=[error]),
    )
    state = failed_state(failure, graph)
    return decide(state, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())


def test_captured_value_smaller_than_min_is_clamped_up() -> None:
    graph = sd15()
    graph["3"]["inputs"]["steps"] = 0
    error = NodeError(
        node_id="3",
        type="value_smaller_than_min",
        input_name="steps",
        received_value=0,
        input_config=["INT", {"default": 20, "min": 1, "max": 10000}],
    )
    decision = decide_on(error, graph)
    assert decision.strategy is Strategy.CLAMP_PARAMS
    dispatch = decision.actions[-1]
    assert isinstance(dispatch, Dispatch) and dispatch.workflows[0]["3"]["inputs"]["steps"] == 1


def test_any_error_that_is_not_a_range_violation_aborts() -> None:
    error = NodeError(node_id="3", type="required_input_missing", input_name="model")
    assert decide_on(error, sd15()).terminal


def test_a_linked_input_is_not_clamped() -> None:
    graph = sd15(width=20000)
    graph["40"] = {"class_type": "PrimitiveInt", "inputs": {"value": 20000}}
    graph["5"]["inputs"]["width"] = ["40", 0]
    error = NodeError(
        node_id="5",
        type="value_bigger_than_max",
        input_name="width",
        received_value=20000,
        input_config=["INT", {"min": 16, "max": 16384, "step": 8}],
    )
    assert decide_on(error, graph).terminal
