"""Memory-aware recovery of GPU_OOM / HOST_OOM: one step to a fit, result-preserving first."""

from __future__ import annotations

from typing import Any

from contracts.policy import RecoveryPolicy
from contracts.recovery import Dispatch, FreeVram
from contracts.taxonomy import FailureClass, Strategy
from recovery.decide import decide
from recovery.decision import Decision
from recovery.edits import PART_PARAM
from recovery.inventory import Inventory
from services.recovery.tests.builders import (
    GIB,
    T0,
    backend,
    classified,
    dispatched,
    failed,
    failed_state,
    flux,
    fold,
    inventory,
    rng,
    sd3,
    sd15,
    sdxl,
)

MIB = 1024**2
E0022 = {
    "requested_bytes": 320 * MIB,
    "allocated_bytes": int(14.81 * GIB),
    "total_bytes": int(15.92 * GIB),
    "free_bytes": 0,
}
DEGRADE = RecoveryPolicy(allow_degradation=True, min_width=512, min_height=512)


def oom(
    graph: dict[str, Any],
    features: dict[str, Any],
    inv: Inventory | None = None,
    policy: RecoveryPolicy | None = None,
    node: str | None = None,
) -> Decision:
    failure = classified(
        FailureClass.GPU_OOM, features={**features, **({"node_id": node} if node else {})}
    )
    state = failed_state(failure, graph)
    return decide(
        state,
        failure,
        policy or RecoveryPolicy(),
        inv or inventory(backend("gpu-a", vram_gib=16)),
        T0,
        rng(),
    )


def dispatch_of(decision: Decision) -> Dispatch:
    last = decision.actions[-1]
    assert isinstance(last, Dispatch)
    return last


def test_oom_that_fits_once_freed_frees_vram_and_reruns_unchanged_on_the_same_gpu() -> None:
    features = {
        "requested_bytes": 512 * MIB,
        "allocated_bytes": 6 * GIB,
        "total_bytes": 16 * GIB,
        "free_bytes": 256 * MIB,
    }
    decision = oom(sd15(), features)
    assert decision.strategy is Strategy.FREE_VRAM
    assert decision.actions[0] == FreeVram(backend_id="gpu-a")
    assert dispatch_of(decision).backend_hint == "gpu-a"
    assert decision.changes == ()


def test_oom_without_numbers_frees_vram_first_instead_of_a_blind_retry() -> None:
    decision = oom(sd15(batch=4), {})
    assert decision.strategy is Strategy.FREE_VRAM
    assert isinstance(decision.actions[0], FreeVram)


def test_sdxl_batch_of_four_on_16_gib_splits_into_two_prompts_of_two_in_one_step() -> None:
    decision = oom(sdxl(batch=4), E0022)
    assert decision.strategy is Strategy.REDUCE_PARAMS
    assert isinstance(decision.actions[0], FreeVram)
    workflows = dispatch_of(decision).workflows
    lengths = [g["cr_split_5"]["inputs"]["length"] for g in workflows]
    assert lengths == [2, 2]
    assert sum(lengths) == 4
    assert [c.param for c in decision.changes] == [PART_PARAM]
    assert dispatch_of(decision).params["batch_size"] == 4


def test_a_batch_of_seven_is_split_so_that_the_parts_add_up_to_seven() -> None:
    decision = oom(sd15(batch=7), E0022)
    lengths = [g["cr_split_5"]["inputs"]["length"] for g in dispatch_of(decision).workflows]
    assert sum(lengths) == 7
    assert max(lengths) == 4


def test_a_decoder_oom_at_batch_one_switches_to_tiled_decode_not_resolution() -> None:
    decision = oom(sd15(width=2048, height=2048), E0022, node="8")
    graph = dispatch_of(decision).workflows[0]
    assert graph["8"]["class_type"] == "VAEDecodeTiled"
    assert graph["8"]["inputs"]["tile_size"] % 32 == 0
    assert graph["5"]["inputs"]["width"] == 2048


def test_resolution_is_never_lowered_when_the_policy_forbids_degradation() -> None:
    decision = oom(sd15(width=1024, height=1024), E0022)
    assert decision.terminal
    assert decision.strategy is Strategy.ABORT
    assert "allow degradation" in " ".join(decision.actions[-1].actionable_steps).lower()


def test_allowed_degradation_lowers_the_resolution_on_the_grid_in_one_step() -> None:
    decision = oom(sd15(width=1024, height=1024), E0022, policy=DEGRADE)
    params = dispatch_of(decision).params
    assert decision.strategy is Strategy.REDUCE_PARAMS
    assert params["width"] % 8 == 0 and params["height"] % 8 == 0
    assert 512 <= params["width"] < 1024
    assert params["width"] * params["height"] <= 0.70 * 1024 * 1024


def test_sd3_resolution_stays_on_its_16_pixel_grid() -> None:
    decision = oom(sd3(size=1024), E0022, policy=DEGRADE)
    assert dispatch_of(decision).params["width"] % 16 == 0


def test_flux_model_sampling_follows_a_lowered_latent_size() -> None:
    decision = oom(flux(size=1024), E0022, policy=DEGRADE)
    graph = dispatch_of(decision).workflows[0]
    assert graph["30"]["inputs"]["width"] == graph["27"]["inputs"]["width"] < 1024


def test_degradation_never_goes_under_the_floors() -> None:
    tiny = {**E0022, "allocated_bytes": int(15.5 * GIB), "requested_bytes": 4 * GIB}
    decision = oom(sd15(width=576, height=576), tiny, policy=DEGRADE)
    assert decision.terminal


def test_a_bigger_gpu_that_fits_unchanged_is_preferred_over_degrading() -> None:
    inv = inventory(backend("gpu-a", vram_gib=16), backend("gpu-big", vram_gib=48))
    decision = oom(sd15(width=1024, height=1024), E0022, inv=inv, policy=DEGRADE)
    assert decision.strategy is Strategy.REROUTE
    dispatch = dispatch_of(decision)
    assert dispatch.backend_hint == "gpu-big"
    assert dispatch.params["width"] == 1024
    assert "gpu-a" in dispatch.exclude_backends


def test_no_gpu_is_big_enough_for_a_219_gib_request_so_the_job_stops_at_once() -> None:
    inv = inventory(backend("gpu-a", vram_gib=16), backend("gpu-b", vram_gib=80))
    decision = oom(sd15(), {"requested_bytes": int(218.96 * GIB)}, inv=inv, policy=DEGRADE)
    assert decision.terminal


def test_reroute_skips_a_bigger_gpu_lacking_a_model() -> None:
    poor = backend("gpu-big", vram_gib=48, models={"checkpoints": []})
    inv = inventory(backend("gpu-a", vram_gib=16), poor, backend("gpu-mid", vram_gib=24))
    decision = oom(sd15(width=1024, height=1024), E0022, inv=inv)
    assert dispatch_of(decision).backend_hint == "gpu-mid"


def test_host_oom_frees_memory_then_halves_the_batch_on_the_same_backend() -> None:
    failure = classified(FailureClass.HOST_OOM)
    state = failed_state(failure, sd15(batch=4))
    farm = inventory(backend("gpu-a"))
    first = decide(state, failure, RecoveryPolicy(), farm, T0, rng())
    free = FreeVram(backend_id="gpu-a", unload_models=True, free_memory=True)
    assert first.strategy is Strategy.FREE_VRAM and first.actions[0] == free
    assert len(dispatch_of(first).workflows) == 1  # the same job, once memory is freed
    state = fold(
        first.to_event("test"),
        dispatched(attempt=2),
        failed(attempt=2),
        failure := classified(FailureClass.HOST_OOM, attempt=2),
        state=state,
    )
    decision = decide(state, failure, RecoveryPolicy(), farm, T0, rng())
    assert decision.strategy is Strategy.REDUCE_PARAMS and decision.actions[0] == free
    assert [g["cr_split_5"]["inputs"]["length"] for g in dispatch_of(decision).workflows] == [2, 2]


def test_host_oom_at_the_batch_source_builds_each_part_there_with_its_own_seed() -> None:
    """The empty latent itself could not hold the batch: a LatentFromBatch split would
    build the whole batch first in every part, so each part builds only its own images."""
    failure = classified(FailureClass.HOST_OOM, features={"node_id": "5"})
    state = failed_state(failure, sd15(batch=4))
    farm = inventory(backend("gpu-a"))
    first = decide(state, failure, RecoveryPolicy(), farm, T0, rng())
    state = fold(
        first.to_event("test"),
        dispatched(attempt=2),
        failed(attempt=2),
        failure := classified(FailureClass.HOST_OOM, attempt=2, features={"node_id": "5"}),
        state=state,
    )
    decision = decide(state, failure, RecoveryPolicy(), farm, T0, rng())
    parts = dispatch_of(decision).workflows
    assert decision.strategy is Strategy.REDUCE_PARAMS and len(parts) == 2
    assert all(not any(n.startswith("cr_split_") for n in g) for g in parts)
    assert [g["5"]["inputs"]["batch_size"] for g in parts] == [2, 2]
    seed = sd15()["3"]["inputs"]["seed"]
    assert [g["3"]["inputs"]["seed"] for g in parts] == [seed, seed + 2]
    assert state.workflow["5"]["inputs"]["batch_size"] == 4  # the base graph keeps its batch
    after = fold(decision.to_event("test"), state=state)
    assert after.part_at_source and after.part_size == 2
    assert after.workflow["5"]["inputs"]["batch_size"] == 4
