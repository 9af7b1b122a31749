"""Evidence from real /prompt replies (captured from ComfyUI v0.33)."""

from __future__ import annotations

import json

import pytest

from submitter.adapters.comfy import PromptReply
from submitter.evidence import rejected
from tests.support.shared import payload


def reply_of(case: str) -> PromptReply:
    response = payload(case)["response"]
    body = response.get("body")
    text = json.dumps(body) if body is not None else response.get("body_text", "")
    return PromptReply(response["status"], text, body)


def test_an_accepted_prompt_is_not_a_failure() -> None:
    assert rejected(reply_of("01_success.json")) is None


def test_value_not_in_list_keeps_node_input_and_choices() -> None:
    ev = rejected(reply_of("02a_value_not_in_list_ckpt.json"))
    assert ev is not None and ev.surface == "validation" and ev.http_status == 400
    assert ev.validation_type == "value_not_in_list"
    [err] = ev.node_errors
    assert (err.node_id, err.class_type, err.input_name) == (
        "4",
        "CheckpointLoaderSimple",
        "ckpt_name",
    )
    assert err.received_value == "does_not_exist.safetensors"
    assert ev.body and "does_not_exist.safetensors" in ev.body


def test_min_max_violations_carry_the_bounds_for_clamping() -> None:
    ev = rejected(reply_of("02d_value_bigger_than_max.json"))
    assert ev is not None
    [err] = ev.node_errors
    assert err.type == "value_bigger_than_max" and err.input_name == "width"
    assert err.input_config[1]["max"] == 16384


def test_every_error_of_every_node_is_kept() -> None:
    ev = rejected(reply_of("02t_multiple_errors.json"))
    assert ev is not None
    raw = payload("02t_multiple_errors.json")["response"]["body"]["node_errors"]
    assert len(ev.node_errors) == sum(len(n["errors"]) for n in raw.values())


def test_missing_node_type_names_the_node_from_extra_info() -> None:
    ev = rejected(reply_of("02b_missing_node_type.json"))
    assert ev is not None and ev.validation_type == "missing_node_type"
    assert ev.node_type == "NoSuchNodeClass" and ev.node_id


def test_a_200_with_node_errors_is_a_partial_acceptance_failure() -> None:
    ev = rejected(reply_of("02m_partially_valid_accepted.json"))
    assert ev is not None and ev.observation == "partial_accept" and ev.node_errors


@pytest.mark.parametrize("call", [0, 1])
def test_a_plain_text_500_keeps_its_full_body(call: int) -> None:
    response = payload("02g_malformed_body_not_json.json")["calls"][call]["response"]
    ev = rejected(PromptReply(500, response["body_text"], None))
    assert ev is not None and ev.surface == "http" and ev.http_status == 500
    assert ev.body == response["body_text"]
    assert ev.message == "500 Internal Server Error"
