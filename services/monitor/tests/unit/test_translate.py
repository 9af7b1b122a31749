"""Outcomes and evidence read from real /history entries (captured from ComfyUI v0.33)."""

from __future__ import annotations

from typing import Any

from monitor.translate import execution_error_evidence, missing_outputs, outcome_of
from tests.support.shared import payload


def entry(body: dict[str, Any]) -> dict[str, Any]:
    [value] = body.values()
    return value


def test_success_lists_every_output_file_and_cached_nodes() -> None:
    outcome = outcome_of(entry(payload("01_success.json")["history_response"]["body"]))
    assert outcome is not None and outcome.kind == "success"
    assert [f.filename for f in outcome.outputs["5"]] == [
        "success_00001_.png",
        "success_00002_.png",
    ]
    assert outcome.outputs["5"][0].subfolder == "capture"
    assert outcome.outputs["6"][0].type == "temp"


def test_identical_resubmit_reports_cached_nodes() -> None:
    data = payload("06a_resubmit_identical_cached.json")
    body = data["history_response"]["body"]
    outcome = outcome_of(entry(body))
    assert outcome is not None and outcome.kind == "success" and len(outcome.cached) == 6


def test_execution_error_evidence_is_complete_and_bounded() -> None:
    outcome = outcome_of(
        entry(payload("03b_execution_error_corrupt_checkpoint.json")["history_response"]["body"])
    )
    assert outcome is not None and outcome.kind == "error"
    ev = execution_error_evidence(outcome.data, "0.33.0", "cpu")
    assert ev.exception_type == "safetensors._safetensors_rust.SafetensorError"
    assert ev.node_id == "4" and ev.node_type == "CheckpointLoaderSimple"
    assert ev.message.startswith("Error while deserializing header") and not ev.message.endswith(
        "\n"
    )
    assert ev.traceback and ev.comfyui_version == "0.33.0"


def test_huge_current_inputs_are_truncated() -> None:
    data = {
        "exception_message": "x\n",
        "exception_type": "Exception",
        "current_inputs": {f"i{n}": ["t" * 10_000] for n in range(100)},
        "traceback": ["frame\n"] * 500,
    }
    ev = execution_error_evidence(data, None, None)
    assert len(ev.current_inputs) <= 24 and all(len(v) <= 200 for v in ev.current_inputs.values())
    assert len(ev.traceback) <= 30


def test_interrupted_and_failed_are_told_apart_by_the_last_message() -> None:
    history = payload("05_interrupt.json")["after"]["history_A"]["response"]["body"]
    outcome = outcome_of(entry(history))
    assert outcome is not None and outcome.kind == "interrupted"
    assert outcome.data["node_type"]


def test_unfinished_entry_has_no_outcome_and_missing_outputs_are_named() -> None:
    assert outcome_of({"status": {"status_str": None, "messages": []}}) is None
    assert missing_outputs(["9", "5"], {"5": []}) == ["9", "5"]


def test_a_malformed_history_entry_is_read_as_far_as_it_goes() -> None:
    entry = {
        "status": {
            "status_str": "error",
            "messages": ["garbage", ["execution_start"], ["execution_error", {"node_id": "3"}]],
        },
        "outputs": {"9": None, "10": ["not", "a", "ui"]},
    }
    outcome = outcome_of(entry)
    assert outcome is not None and outcome.kind == "error" and outcome.data == {"node_id": "3"}
    assert outcome.outputs == {"9": [], "10": []}
    assert outcome_of({"status": "nonsense"}) is None
