"""Decision-core branches that only the property tests reached by chance, as examples:
a failing backend that is out, numbers that say nothing, no other device, no inventory.
`make coverage` gates these cores at 100 %; these tests keep that independent of draws."""

from __future__ import annotations

from contracts.policy import RecoveryPolicy
from contracts.recovery import Abort
from contracts.taxonomy import FailureClass, Strategy
from recovery.decide import decide
from recovery.strategies import reduce_params, reroute, resume
from recovery.strategies.inputs import reupload
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    failed_state,
    inventory,
    rng,
    sd15,
)
from services.recovery.tests.unit.test_strategy_edges import context

C = FailureClass
OUT = inventory(backend("gpu-a", reachable=False), backend("gpu-b"))
"""The failing backend (gpu-a) is unreachable; another one is fine."""


def test_nothing_goes_back_to_a_failing_backend_that_is_out() -> None:
    inputs = classified(C.INPUT_MISSING)
    assert reupload(context(inputs, failed_state(inputs, inputs=("cat.png",)), OUT)) is None
    assert reduce_params.reduce_host(context(classified(C.HOST_OOM), inv=OUT)) is None
    assert resume.rerun_outputs(context(classified(C.OUTPUT_MISSING), inv=OUT)) is None


def test_reupload_needs_inputs_the_job_holds() -> None:
    failure = classified(C.INPUT_MISSING)
    assert reupload(context(failure)) is None  # submitted without inputs


def test_host_oom_of_a_single_image_is_lowered_in_size_only_when_the_policy_allows() -> None:
    failure = classified(C.HOST_OOM)
    state = failed_state(failure, sd15(batch=1))
    assert reduce_params.reduce_host(context(failure, state)) is None  # nothing to split
    allowed = RecoveryPolicy(allow_degradation=True)
    plan = reduce_params.reduce_host(context(failure, state, policy=allowed))
    assert plan is not None and plan.workflow is not None
    assert plan.strategies == (Strategy.REDUCE_PARAMS,)
    assert plan.workflow["5"]["inputs"]["width"] < 512


def test_gpu_oom_without_numbers_halves_the_work_on_the_freed_gpu() -> None:
    failure = classified(C.GPU_OOM)  # no *_bytes features: no peak to measure
    plan = reduce_params.reduce_gpu(context(failure, failed_state(failure, sd15(batch=4))))
    assert plan is not None and plan.part_size == 2
    assert plan.backend_hint == "gpu-a"


def test_no_backend_of_another_device_means_no_device_reroute() -> None:
    same_kind = inventory(backend("gpu-a"), backend("gpu-b"))  # both CUDA RTX 4090
    failure = classified(C.BACKEND_UNSUPPORTED)
    assert reroute.other_device(context(failure, inv=same_kind)) is None


def test_with_no_inventory_known_nothing_is_reported_missing_everywhere() -> None:
    """A failure no step applies to, on a farm whose nodes no backend reported: the abort
    names no missing node or model (nothing is known to be missing)."""
    failure = classified(C.MODEL_INCOMPATIBLE, backend_id="gpu-a")
    unreported = inventory(backend("gpu-a", node_classes=None))
    decision = decide(failed_state(failure), failure, RecoveryPolicy(), unreported, T0, rng())
    assert decision.terminal
    assert isinstance(decision.actions[-1], Abort)
    assert decision.reason == "MODEL_INCOMPATIBLE: no recovery applies any more"
