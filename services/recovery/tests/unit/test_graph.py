"""Parameter discovery on real-looking SD1.5, SDXL, SD3 and Flux graphs."""

from __future__ import annotations

import pytest

from contracts.job import Binding
from recovery.graph import Ref, bind, discover, params_of, requirements
from services.recovery.tests.builders import flux, sd3, sd15, sdxl


def test_sd15_standard_nodes_are_recognised() -> None:
    gp = discover(sd15(batch=2))
    assert (gp.latent, gp.grid) == ("5", 8)
    assert (gp.width, gp.height, gp.batch) == (
        Ref("5", "width"),
        Ref("5", "height"),
        Ref("5", "batch_size"),
    )
    assert gp.steps == (Ref("3", "steps"),)
    assert gp.decoders == ("8",)
    assert [(m.folder, m.name) for m in gp.models] == [
        ("checkpoints", "v1-5-pruned-emaonly.safetensors")
    ]


def test_sdxl_base_and_refiner_samplers_and_every_model_are_found() -> None:
    gp = discover(sdxl())
    assert gp.steps == (Ref("10", "steps"), Ref("11", "steps"))
    assert {(m.node, m.folder) for m in gp.models} == {
        ("4", "checkpoints"),
        ("12", "checkpoints"),
        ("13", "loras"),
        ("20", "vae"),
    }
    assert gp.decoders == ("17",)


def test_sd3_latent_uses_its_16_pixel_grid() -> None:
    gp = discover(sd3())
    assert (gp.latent, gp.grid) == ("3", 16)
    assert {m.input for m in gp.models} == {"ckpt_name", "clip_name1", "clip_name2", "clip_name3"}


def test_flux_steps_come_from_the_scheduler_and_size_followers_are_known() -> None:
    gp = discover(flux())
    assert gp.latent == "27"
    assert gp.steps == (Ref("17", "steps"),)
    assert gp.followers == ("30",)
    assert {(m.folder, m.name) for m in gp.models} == {
        ("vae", "ae.safetensors"),
        ("text_encoders", "t5xxl_fp16.safetensors"),
        ("text_encoders", "clip_l.safetensors"),
        ("diffusion_models", "flux1-dev.safetensors"),
    }


def test_explicit_bindings_win_over_recognised_nodes() -> None:
    graph = sd15()
    graph["50"] = {"class_type": "CustomSizer", "inputs": {"w": 640, "h": 448, "n": 3}}
    bindings = {
        "width": Binding("50", "w"),
        "height": Binding("50", "h"),
        "batch_size": Binding("50", "n"),
    }
    gp = discover(graph, bindings)
    assert (gp.width, gp.height, gp.batch) == (Ref("50", "w"), Ref("50", "h"), Ref("50", "n"))


def test_a_size_linked_from_a_primitive_node_is_edited_at_the_primitive() -> None:
    graph = sd15()
    graph["40"] = {"class_type": "PrimitiveInt", "inputs": {"value": 768}}
    graph["5"]["inputs"]["width"] = ["40", 0]
    assert discover(graph).width == Ref("40", "value")


def test_bound_model_inputs_of_unknown_loaders_are_models() -> None:
    graph = sd15()
    graph["60"] = {
        "class_type": "Efficient Loader",
        "inputs": {"ckpt_name": "albedobaseXL.safetensors"},
    }
    gp = discover(graph, {"model": Binding("60", "ckpt_name")})
    assert ("", "albedobaseXL.safetensors") in {(m.folder, m.name) for m in gp.models}


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (sd15(batch=2), {"width": 512, "height": 512, "batch_size": 2, "steps": 20}),
        (flux(), {"width": 1024, "height": 1024, "batch_size": 1, "steps": 20}),
    ],
)
def test_params_name_size_batch_steps_models_and_decoder(graph: dict, expected: dict) -> None:
    params = params_of(graph, discover(graph))
    assert expected.items() <= params.items()
    assert params["decoder"] == "VAEDecode"


def test_params_key_repeated_inputs_by_node() -> None:
    params = params_of(sdxl(), discover(sdxl()))
    assert params["ckpt_name@4"] == "sd_xl_base_1.0.safetensors"
    assert params["ckpt_name@12"] == "sd_xl_refiner_1.0.safetensors"
    assert params["lora_name"] == "pixel-art-xl.safetensors"


def test_requirements_list_node_classes_and_models_by_canonical_folder() -> None:
    graph = flux()
    graph["11"]["class_type"] = "DualCLIPLoader"
    needs = requirements([graph])
    assert "SamplerCustomAdvanced" in needs.node_classes
    assert ("text_encoders", "clip_l.safetensors") in needs.models


def test_bind_writes_client_params_at_their_bindings_without_touching_the_input() -> None:
    graph = sd15()
    bound = bind(graph, {"width": 768, "prompt": "x"}, {"width": Binding("5", "width")})
    assert bound["5"]["inputs"]["width"] == 768
    assert graph["5"]["inputs"]["width"] == 512
