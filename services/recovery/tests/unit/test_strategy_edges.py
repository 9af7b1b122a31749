"""Strategy planners at their edges: no backend to name, nothing to change, numbers that
do not allow a plan. Each planner is called on a `Context` as `decide` builds it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import msgspec

from contracts.failure import FailureClassified
from contracts.job import FailureEvidence, JobCancelRequested, JobRetryRequested, NodeError
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus
from contracts.recovery import FreeVram
from contracts.taxonomy import FailureClass, Strategy
from recovery.edits import PART_PARAM
from recovery.graph import Ref, discover
from recovery.inventory import Inventory
from recovery.job_state import JobState
from recovery.strategies import clamp, explain, fit, models, reduce_params, reroute, resume, retry
from recovery.strategies.backend import quarantine_actions
from recovery.strategies.context import Context, Tuning
from recovery.strategies.dispatch import param_names
from recovery.strategies.inputs import reupload
from recovery.strategies.operator import decide_cancel, decide_manual_retry
from services.recovery.tests.builders import (
    GIB,
    T0,
    backend,
    classified,
    failed_state,
    flux,
    fold,
    inventory,
    rng,
    sd15,
    submitted,
)

C = FailureClass
FARM = inventory(backend("gpu-a"), backend("gpu-b"))


def context(
    failure: FailureClassified,
    state: JobState | None = None,
    inv: Inventory = FARM,
    policy: RecoveryPolicy | None = None,
) -> Context:
    """The context `decide` builds for `failure` (default state: dispatched, then failed)."""
    return Context(
        state if state is not None else failed_state(failure),
        failure,
        policy or RecoveryPolicy(),
        inv,
        T0 + timedelta(seconds=5),
        rng(),
        Tuning(),
    )


def unplaced(failure_class: FailureClass, **kw: Any) -> Context:
    """A failure that names no backend, of a job never dispatched (no backend to act on)."""
    failure = classified(failure_class, backend_id=None, **kw)
    return context(failure, fold(submitted(inputs=("cat.png",))))


def img2img() -> dict[str, Any]:
    """SD1.5 from a loaded image: no empty latent, so no size or batch to change."""
    graph = sd15()
    graph["5"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png"}}
    graph["10"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["5", 0], "vae": ["4", 2]}}
    graph["3"]["inputs"]["latent_image"] = ["10", 0]
    return graph


def test_without_a_backend_nothing_is_quarantined_interrupted_or_freed() -> None:
    ctx = unplaced(C.BACKEND_WEDGED)
    assert quarantine_actions(ctx) == ()
    assert resume.interrupts(ctx, "stalled") == ()
    assert retry.after_outage(ctx) is None


def test_host_oom_without_a_backend_reroutes_with_nothing_to_free() -> None:
    plan = reduce_params.reroute_host(unplaced(C.HOST_OOM))
    assert plan is not None and plan.backend_hint in {"gpu-a", "gpu-b"}
    assert plan.actions == ()
    failure = classified(C.HOST_OOM)
    placed = reduce_params.reroute_host(context(failure))
    assert placed is not None and placed.backend_hint == "gpu-b"
    assert placed.actions == (FreeVram(backend_id="gpu-a", unload_models=True, free_memory=True),)


def test_reroute_needs_something_to_differ_from() -> None:
    # no version known anywhere for the failing backend: no "other version" to pick
    failure = classified(C.MODEL_INCOMPATIBLE)
    unknown = inventory(backend("gpu-a", version=None), backend("gpu-b", version="0.34.0"))
    assert reroute.other_version(context(failure, inv=unknown)) is None
    # neither the failure nor the inventory says what device failed
    bare = inventory(backend("gpu-b"))
    assert reroute.other_device(context(classified(C.BACKEND_UNSUPPORTED), inv=bare)) is None


def test_after_outage_waits_at_least_until_the_breaker_lets_a_probe_through() -> None:
    failure = classified(C.BACKEND_UNREACHABLE)
    half_open = T0 + timedelta(seconds=65)
    view = backend("gpu-a")
    inv = inventory(replace(view, half_open_at=half_open))
    plan = retry.after_outage(context(failure, inv=inv))
    assert plan is not None and plan.delay_s == 60.0  # now is T0+5 s: 60 s to the probe
    early = inventory(replace(view, half_open_at=T0))
    quick = retry.after_outage(context(failure, inv=early))
    assert quick is not None and 0 < quick.delay_s < 60.0  # the backoff alone


def test_retry_anywhere_moves_when_the_failing_backend_is_out() -> None:
    failure = classified(C.EXTERNAL_SERVICE_ERROR)
    inv = inventory(backend("gpu-a", reachable=False), backend("gpu-b"))
    plan = retry.anywhere(context(failure, inv=inv))
    assert plan is not None and plan.backend_hint == "gpu-b" and plan.delay_s > 0
    alone = inventory(backend("gpu-a", reachable=False))
    assert retry.anywhere(context(failure, inv=alone)) is None


def test_rerun_outputs_needs_an_output_node_to_retarget() -> None:
    graph = sd15()
    del graph["9"]  # no SaveImage: nothing has a filename prefix
    failure = classified(C.OUTPUT_MISSING)
    assert resume.rerun_outputs(context(failure, failed_state(failure, graph))) is None


def test_reupload_picks_the_input_the_evidence_names() -> None:
    evidence = FailureEvidence(
        surface="validation",
        message="Invalid image file",
        node_errors=[
            NodeError(node_id="5", type="custom_validation_failed", received_value="dog.png")
        ],
    )
    failure = classified(C.INPUT_MISSING, evidence=evidence)
    state = failed_state(failure, inputs=("cat.png", "dog.png"))
    plan = reupload(context(failure, state))
    assert plan is not None
    assert [a.name for a in plan.actions] == ["dog.png"]  # type: ignore[attr-defined]


def test_clamp_reads_the_range_from_the_features_when_no_node_error_is_given() -> None:
    features = {"node_id": "5", "input_name": "width", "min": 16, "max": 4096, "value": 20000}
    failure = classified(C.INVALID_PARAMETERS, features=features)
    graph = sd15(width=20000)
    plan = clamp.clamp(context(failure, failed_state(failure, graph)))
    assert plan is not None and plan.workflow is not None
    assert plan.workflow["5"]["inputs"]["width"] == 4096
    assert clamp.bounds(context(classified(C.INVALID_PARAMETERS, features={"min": 1}))) == ()


def test_clamp_refuses_what_it_cannot_or_need_not_change() -> None:
    marked = classified(C.INVALID_PARAMETERS, features={"clampable": False})
    assert clamp.bounds(context(marked)) == ()
    unnamed = NodeError(node_id="5", type="value_bigger_than_max", input_config=["INT", {}])
    failure = classified(
        C.INVALID_PARAMETERS,
        evidence=FailureEvidence(surface="validation", node_errors=[unnamed]),
    )
    assert clamp.bounds(context(failure)) == ()
    # the graph already holds a value inside the range: clamping would change nothing
    within = NodeError(
        node_id="5",
        type="value_bigger_than_max",
        input_name="width",
        received_value=20000,
        input_config=["INT", {"min": 16, "max": 16384, "step": 8}],
    )
    failure = classified(
        C.INVALID_PARAMETERS,
        evidence=FailureEvidence(surface="validation", node_errors=[within]),
    )
    assert clamp.clamp(context(failure)) is None


def test_explain_names_the_node_class_the_failure_names() -> None:
    failure = classified(C.NODE_MISSING, features={"node_class": "IPAdapterApply"})
    assert explain.subject(context(failure)) == "node class IPAdapterApply"


def test_wanted_models_fall_back_to_the_failing_loader_node() -> None:
    evidence = FailureEvidence(
        surface="execution_error",
        node_id="4",
        node_errors=[NodeError(node_id="3", type="required_input_missing", input_name="model")],
    )
    failure = classified(C.MODEL_CORRUPT, evidence=evidence)
    wanted = models.wanted_models(context(failure))
    assert [(w.ref, w.name) for w in wanted] == [
        (Ref("4", "ckpt_name"), "v1-5-pruned-emaonly.safetensors")
    ]


def test_no_ambiguity_is_reported_for_a_backend_never_seen() -> None:
    failure = classified(C.MODEL_MISSING, backend_id="gpu-z")
    assert models.ambiguous(context(failure)) == ()


def test_reduce_gpu_gives_up_when_the_weights_alone_exceed_the_freed_gpu() -> None:
    numbers = {
        "requested_bytes": 1 * GIB,
        "allocated_bytes": 60 * GIB,
        "total_bytes": 24 * GIB,
        "free_bytes": 0,
    }
    failure = classified(C.GPU_OOM, features=numbers)
    assert reduce_params.reduce_gpu(context(failure)) is None


def fit_ctx(graph: dict[str, Any], **kw: Any) -> Context:
    failure = classified(C.GPU_OOM, **kw)
    return context(failure, failed_state(failure, graph), policy=RecoveryPolicy())


def test_splitting_into_single_images_that_is_not_enough_lowers_the_size_only_if_allowed() -> None:
    ctx = fit_ctx(sd15(batch=2))
    assert fit.fit(ctx, 0.3, degrade=False) is None
    found = fit.fit(ctx, 0.3, degrade=True)
    assert found is not None and found.level is fit.Level.DEGRADING
    assert found.part_size == 1
    assert found.workflow["5"]["inputs"]["width"] < 512


def test_a_graph_without_an_empty_latent_has_nothing_to_split_tile_or_resize() -> None:
    ctx = fit_ctx(img2img(), features={"node_id": "8"})  # the decoder ran out
    assert fit.failing_stage(ctx) == "decode"
    assert fit.fit(ctx, 0.5, degrade=True) is None


def test_tiles_too_small_to_help_are_not_proposed() -> None:
    graph = sd15()
    graph["8"] = {
        "class_type": "VAEDecodeTiled",
        "inputs": {"samples": ["3", 0], "vae": ["4", 2], "tile_size": 512},
    }
    ctx = fit_ctx(graph, features={"node_id": "8"})
    halved = fit.fit(ctx, 0.25, degrade=False)
    assert halved is not None and halved.workflow["8"]["inputs"]["tile_size"] == 256
    assert fit.fit(ctx, 0.01, degrade=False) is None  # 51 px: under the 64 px minimum


def test_a_size_follower_that_disagrees_with_the_latent_is_left_alone() -> None:
    graph = flux()
    graph["30"]["inputs"]["width"] = 768  # not the latent's 1024
    found = fit.fit(fit_ctx(graph), 0.25, degrade=True)
    assert found is not None and found.level is fit.Level.DEGRADING
    assert found.workflow["27"]["inputs"]["width"] == 512
    assert found.workflow["30"]["inputs"]["width"] == 768
    assert found.workflow["30"]["inputs"]["height"] == 512


def test_param_names_skip_sizes_a_graph_does_not_have() -> None:
    names = param_names(discover(img2img()))
    assert "width" not in names.values() and "batch_size" not in names.values()
    assert names[Ref("4", "ckpt_name")] == "ckpt_name"


def test_a_manual_retry_of_a_split_job_runs_the_batch_as_one_prompt_again() -> None:
    failure = classified(C.GPU_OOM)
    state = msgspec.structs.replace(
        failed_state(failure, sd15(batch=4)), status=JobStatus.ABORTED, part_size=2
    )
    request = JobRetryRequested(event_id="r1", job_id="job-1", occurred_at=T0, source="t")
    decision = decide_manual_retry(state, request, T0)
    assert decision is not None
    split = [c for c in decision.changes if c.param == PART_PARAM]
    assert len(split) == 1 and (split[0].before, split[0].after) == (2, None)
    assert split[0].note == "run the batch as one prompt again"


def test_cancelling_a_job_that_is_not_running_interrupts_nothing() -> None:
    request = JobCancelRequested(event_id="c1", job_id="job-1", occurred_at=T0, source="t")
    decision = decide_cancel(fold(submitted()), request, T0)
    assert decision is not None
    assert decision.strategies == (Strategy.CANCEL,)
    assert decision.reason == "cancelled by the owner"


def test_switch_finds_no_backend_holding_any_listed_fallback() -> None:
    asked = "v1-5-pruned-emaonly.safetensors"
    failure = classified(C.MODEL_MISSING, features={"model_name": asked, "node_id": "4"})
    policy = RecoveryPolicy(fallback_models={asked: ["nowhere.safetensors"]})
    assert models.switch(context(failure, policy=policy)) is None
    listed = RecoveryPolicy(fallback_models={asked: ["dreamshaper_8.safetensors"]})
    holder = inventory(
        backend("gpu-a"),
        backend("gpu-b", models={"checkpoints": ["dreamshaper_8.safetensors"]}),
    )
    plan = models.switch(context(failure, inv=holder, policy=listed))
    assert plan is not None and plan.backend_hint == "gpu-b"


def test_an_interrupted_prompt_whose_backend_is_out_moves_only_if_another_can_take_it() -> None:
    evidence = FailureEvidence(surface="execution_interrupted", node_id="3")
    failure = classified(C.INTERRUPTED, evidence=evidence)
    out = backend("gpu-a", reachable=False)
    assert resume.resume(context(failure, inv=inventory(out))) is None
    plan = resume.resume(context(failure, inv=inventory(out, backend("gpu-b"))))
    assert plan is not None and plan.backend_hint == "gpu-b"
    assert plan.strategies == (Strategy.RESUME, Strategy.REROUTE)


def test_a_gpu_of_unknown_size_is_no_place_to_reroute_an_oom() -> None:
    """Rerouting a GPU OOM needs to know the other GPU is bigger: one whose VRAM no probe
    reported is skipped (the deterministic twin of what the property tests reach by chance)."""
    failure = classified(C.GPU_OOM, backend_id="gpu-a")
    small = backend("gpu-a", vram_gib=8)
    unknown_only = inventory(small, backend("gpu-b", vram_gib=None))
    assert reduce_params.reroute_gpu(context(failure, inv=unknown_only)) is None
    with_big = inventory(small, backend("gpu-b", vram_gib=None), backend("gpu-c", vram_gib=48))
    plan = reduce_params.reroute_gpu(context(failure, inv=with_big))
    assert plan is not None and plan.backend_hint == "gpu-c"
