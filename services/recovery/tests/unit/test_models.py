"""REPAIR_MODEL_NAME, model-aware REROUTE and SWITCH_MODEL: identity, never similarity."""

from __future__ import annotations

import pytest

from contracts.job import FailureEvidence
from contracts.policy import RecoveryPolicy
from contracts.recovery import Abort, Dispatch
from contracts.taxonomy import FailureClass, Strategy
from recovery.decide import decide
from recovery.decision import Decision
from recovery.inventory import Inventory
from recovery.strategies.models import respell, same_file
from services.recovery.tests.builders import (
    ALL_MODELS,
    T0,
    backend,
    classified,
    failed_state,
    inventory,
    rng,
    sd15,
    validation_error,
)

ASKED = "v1-5-pruned-emaonly.safetensors"
FEATURES = {
    "model_name": ASKED,
    "model_folder": "checkpoints",
    "node_id": "4",
    "input_name": "ckpt_name",
}


def with_checkpoints(backend_id: str, *names: str, **kw: object) -> object:
    return backend(backend_id, models={**ALL_MODELS, "checkpoints": list(names)}, **kw)  # type: ignore[arg-type]


def missing(
    inv: Inventory, policy: RecoveryPolicy | None = None, graph: dict | None = None
) -> Decision:
    failure = classified(FailureClass.MODEL_MISSING, features=FEATURES)
    state = failed_state(failure, graph or sd15())
    return decide(state, failure, policy or RecoveryPolicy(), inv, T0, rng())


def dispatch_of(decision: Decision) -> Dispatch:
    last = decision.actions[-1]
    assert isinstance(last, Dispatch), decision.reason
    return last


@pytest.mark.parametrize(
    ("asked", "candidate"),
    [
        (
            "WAN 2/Wan21_CausVid_14B_T2V_lora_rank32.safetensors",
            "Wan21_CausVid_14B_T2V_lora_rank32.safetensors",
        ),
        ("sd_xl_base_1.0.safetensors", "SDXL/sd_xl_base_1.0.safetensors"),
        ("/media/raph/MegaDrive/ComfyUI/models/loras/rimukoro.safetensors", "rimukoro.safetensors"),
        ("..\\ComfyUI\\models\\loras\\Pony\\char\\mika.safetensors", "Pony/char/mika.safetensors"),
        ("realisticVision.safetensors [a1b2c3d4e5]", "realisticVision.safetensors"),
        ("  'Model.SafeTensors' ", "model.safetensors"),
        ("flux1-dev", "flux1-dev.safetensors"),
    ],
)
def test_the_same_file_under_another_spelling_is_recognised(asked: str, candidate: str) -> None:
    assert same_file(asked, candidate)


@pytest.mark.parametrize(
    ("asked", "candidate"),
    [
        ("v1-5-pruned-emaonly.safetensors", "v1-5-pruned.safetensors"),
        ("wan2.2_high_noise_14B.safetensors", "wan2.2_low_noise_14B.safetensors"),
        ("sd_xl_base_1.0.safetensors", "sd_xl_base_1.0_0.9vae.safetensors"),
        ("model.safetensors", "model (1).safetensors"),
        ("flux1-dev.safetensors", "flux1-dev.gguf"),
    ],
)
def test_a_similar_name_is_never_the_same_file(asked: str, candidate: str) -> None:
    assert not same_file(asked, candidate)


def test_two_files_with_the_same_spelling_are_ambiguous_and_not_picked() -> None:
    assert respell("a.safetensors", ["x/a.safetensors", "y/a.safetensors"]) is None
    assert respell("a.safetensors", ["x/a.safetensors"]) == "x/a.safetensors"


def test_an_ambiguous_repair_aborts_naming_every_candidate() -> None:
    decision = missing(inventory(with_checkpoints("gpu-a", f"x/{ASKED}", f"y/{ASKED}")))
    abort = decision.actions[-1]
    assert decision.terminal and isinstance(abort, Abort)
    step = abort.actionable_steps[0]
    assert f"x/{ASKED}" in step and f"y/{ASKED}" in step and ASKED in abort.reason


def test_repair_respells_the_name_on_the_failing_backend() -> None:
    decision = missing(inventory(with_checkpoints("gpu-a", f"SD15/{ASKED}")))
    assert decision.strategy is Strategy.REPAIR_MODEL_NAME
    assert dispatch_of(decision).workflows[0]["4"]["inputs"]["ckpt_name"] == f"SD15/{ASKED}"
    assert dispatch_of(decision).backend_hint == "gpu-a"
    assert [(c.node, c.input, c.before, c.after) for c in decision.changes] == [
        ("4", "ckpt_name", ASKED, f"SD15/{ASKED}")
    ]


def test_without_a_repair_the_job_goes_to_a_backend_that_has_the_model() -> None:
    inv = inventory(
        with_checkpoints("gpu-a", "other.safetensors"), with_checkpoints("gpu-b", ASKED)
    )
    decision = missing(inv)
    assert decision.strategy is Strategy.REROUTE
    assert dispatch_of(decision).backend_hint == "gpu-b"
    assert decision.changes == ()


def test_a_similar_model_on_the_backend_is_never_used_without_a_fallback_list() -> None:
    decision = missing(inventory(with_checkpoints("gpu-a", "v1-5-pruned.safetensors")))
    assert decision.terminal


def test_switch_takes_the_first_explicit_fallback_that_the_backend_has() -> None:
    policy = RecoveryPolicy(
        fallback_models={ASKED: ["not-here.safetensors", "dreamshaper_8.safetensors"]}
    )
    decision = missing(inventory(with_checkpoints("gpu-a", "dreamshaper_8.safetensors")), policy)
    assert decision.strategy is Strategy.SWITCH_MODEL
    assert (
        dispatch_of(decision).workflows[0]["4"]["inputs"]["ckpt_name"]
        == "dreamshaper_8.safetensors"
    )


def test_switch_only_moves_to_a_backend_that_really_has_the_fallback() -> None:
    policy = RecoveryPolicy(fallback_models={ASKED: ["dreamshaper_8.safetensors"]})
    inv = inventory(
        with_checkpoints("gpu-a"), with_checkpoints("gpu-b", "dreamshaper_8.safetensors")
    )
    decision = missing(inv, policy)
    assert dispatch_of(decision).backend_hint == "gpu-b"


def test_every_model_named_by_validation_errors_is_repaired_together() -> None:
    evidence = FailureEvidence(
        surface="validation",
        node_errors=[
            validation_error("4", "ckpt_name", "value_not_in_list", ASKED),
        ],
    )
    failure = classified(FailureClass.MODEL_MISSING, evidence=evidence)
    state = failed_state(failure, sd15())
    inv = inventory(with_checkpoints("gpu-a", f"sd/{ASKED}"))
    decision = decide(state, failure, RecoveryPolicy(), inv, T0, rng())
    assert dispatch_of(decision).workflows[0]["4"]["inputs"]["ckpt_name"] == f"sd/{ASKED}"


def test_a_corrupt_model_moves_to_another_backend_with_an_intact_copy() -> None:
    failure = classified(FailureClass.MODEL_CORRUPT, features={"model_name": ASKED, "node_id": "4"})
    state = failed_state(failure, sd15())
    inv = inventory(backend("gpu-a"), backend("gpu-b"))
    decision = decide(state, failure, RecoveryPolicy(), inv, T0, rng())
    assert decision.strategy is Strategy.REROUTE
    assert dispatch_of(decision).backend_hint == "gpu-b"


def test_a_corrupt_model_alone_in_the_farm_aborts_with_the_flag_the_file_step() -> None:
    failure = classified(FailureClass.MODEL_CORRUPT, features={"model_name": ASKED, "node_id": "4"})
    state = failed_state(failure, sd15())
    decision = decide(state, failure, RecoveryPolicy(), inventory(backend("gpu-a")), T0, rng())
    assert decision.terminal
    assert any("again" in step for step in decision.actions[-1].actionable_steps)


def test_the_abort_names_the_node_and_the_file_but_never_a_backend_path() -> None:
    features = {
        **FEATURES,
        "model_name": "/srv/comfy/models/checkpoints/v1-5-pruned-emaonly.safetensors",
    }
    failure = classified(FailureClass.MODEL_MISSING, features=features)
    state = failed_state(failure, sd15())
    decision = decide(
        state, failure, RecoveryPolicy(), inventory(with_checkpoints("gpu-a")), T0, rng()
    )
    abort = decision.actions[-1]
    assert isinstance(abort, Abort)
    assert (
        "v1-5-pruned-emaonly.safetensors" in abort.user_message and "node 4" in abort.user_message
    )
    assert "/srv" not in abort.user_message and "/srv" not in abort.reason
