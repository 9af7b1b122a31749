"""Graph edits and their diffs: split a batch, tiled decode, output prefixes, replay."""

from __future__ import annotations

import pytest

from contracts.recovery import ParamChange
from recovery.edits import (
    PART_PARAM,
    apply_changes,
    diff,
    retarget_outputs,
    set_inputs,
    split_batch,
    to_tiled_decode,
)
from recovery.graph import Ref, consumers
from services.recovery.tests.builders import sd15, sdxl


@pytest.mark.parametrize(("batch", "part"), [(4, 2), (5, 2), (7, 3), (64, 1), (3, 1)])
def test_batch_split_covers_every_image_once_in_order(batch: int, part: int) -> None:
    graphs = split_batch(sdxl(batch=batch), "5", batch, part)
    ranges = [
        (g["cr_split_5"]["inputs"]["batch_index"], g["cr_split_5"]["inputs"]["length"])
        for g in graphs
    ]
    covered = [index for start, length in ranges for index in range(start, start + length)]
    assert covered == list(range(batch))
    assert all(length <= part for _, length in ranges)


def test_batch_split_rewires_the_sampler_through_latent_from_batch() -> None:
    graph = split_batch(sdxl(batch=4), "5", 4, 2)[1]
    assert graph["10"]["inputs"]["latent_image"] == ["cr_split_5", 0]
    assert graph["cr_split_5"]["class_type"] == "LatentFromBatch"
    assert graph["cr_split_5"]["inputs"]["samples"] == ["5", 0]
    assert graph["5"]["inputs"]["batch_size"] == 4
    assert consumers(graph, "5") == (Ref("cr_split_5", "samples"),)


def test_no_split_when_the_part_is_the_whole_batch() -> None:
    graph = sd15(batch=2)
    assert split_batch(graph, "5", 2, None) == [graph]
    assert split_batch(graph, "5", 2, 2) == [graph]


def test_tiled_decode_sets_every_required_input_of_the_schema() -> None:
    graph = to_tiled_decode(sd15(), ["8"], 256)
    assert graph["8"]["class_type"] == "VAEDecodeTiled"
    assert graph["8"]["inputs"] == {
        "samples": ["3", 0],
        "vae": ["4", 2],
        "tile_size": 256,
        "overlap": 64,
        "temporal_size": 64,
        "temporal_overlap": 8,
    }


def test_diff_records_class_and_input_changes_with_names_and_notes() -> None:
    before = sd15()
    after = set_inputs(to_tiled_decode(before, ["8"], 512), {Ref("5", "width"): 448})
    changes = diff(before, after, {Ref("5", "width"): "width"}, {Ref("5", "width"): "why"})
    assert (
        ParamChange(node="5", input="width", before=512, after=448, param="width", note="why")
        in changes
    )
    assert (
        ParamChange(node="8", input="class_type", before="VAEDecode", after="VAEDecodeTiled")
        in changes
    )
    assert ParamChange(node="8", input="tile_size", before=None, after=512) in changes


def test_replaying_a_diff_gives_the_edited_graph_back() -> None:
    before = sdxl()
    after = set_inputs(
        to_tiled_decode(before, ["17"], 320), {Ref("13", "lora_name"): "other.safetensors"}
    )
    assert apply_changes(before, diff(before, after)) == after
    assert apply_changes(after, diff(after, before)) == before


def test_split_records_do_not_edit_the_base_graph() -> None:
    change = ParamChange(node="5", input="batch_size", before=None, after=2, param=PART_PARAM)
    assert apply_changes(sd15(batch=4), [change]) == sd15(batch=4)


def test_diff_refuses_added_nodes() -> None:
    with pytest.raises(ValueError, match="keeps its nodes"):
        diff(sd15(), {**sd15(), "99": {"class_type": "X", "inputs": {}}})


def test_retargeted_outputs_get_a_new_prefix_and_nothing_else_changes() -> None:
    before = sd15()
    changes = diff(before, retarget_outputs(before, "_r2"))
    assert changes == [
        ParamChange(node="9", input="filename_prefix", before="ComfyUI", after="ComfyUI_r2")
    ]
