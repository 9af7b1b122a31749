"""User messages: one per class, with steps, and nothing unsanitised (paths, hosts, URLs)."""

from __future__ import annotations

import pytest

from classifier.messages import compose, sanitize
from contracts.taxonomy import FailureClass as C


@pytest.mark.parametrize("cls", list(C))
def test_every_class_has_a_message_and_steps_unless_terminal(cls: C) -> None:
    message, steps = compose(cls, {})
    assert message.endswith(".")
    assert steps or cls == C.CANCELLED


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("/home/user/ComfyUI/models/loras/ink.safetensors", "ink.safetensors"),
        ("C:\\ComfyUI\\models\\vae\\ae.safetensors", "ae.safetensors"),
        ("see https://huggingface.co/org/repo now", "see <url> now"),
        ("host 10.0.0.12:8188 failed", "host <host> failed"),
        ("api.example.com refused", "<host> refused"),
        ("line\nbreak\x00", "line break"),
        ("KSampler (Efficient)", "KSampler (Efficient)"),
        (None, ""),
        (42, ""),
    ],
)
def test_sanitize_strips_paths_hosts_urls_and_control_characters(raw: object, safe: str) -> None:
    assert sanitize(raw) == safe


def test_sanitize_bounds_the_length() -> None:
    assert len(sanitize("x" * 500)) == 80


def test_features_are_interpolated_sanitised() -> None:
    message, _ = compose(C.MODEL_MISSING, {"model_name": "/srv/models/ckpt/secret/sd.safetensors"})
    assert message.endswith(": sd.safetensors.")
    assert "/srv" not in message


def test_invalid_parameter_message_names_input_node_and_bounds() -> None:
    features = {"input_name": "width", "node_type": "EmptyImage", "min": 1, "max": 16384}
    message, _ = compose(C.INVALID_PARAMETERS, features)
    assert "input width of node EmptyImage (min 1, max 16384)" in message


def test_a_rule_hint_becomes_an_extra_step() -> None:
    _, steps = compose(C.PERMISSION_DENIED, {}, hint="Check the folder at /etc/secret/x now.")
    assert steps[-1] == "Check the folder at x now."


def test_model_missing_names_what_the_backend_has() -> None:
    names = [f"m{i}.safetensors" for i in range(10)]
    features = {"model_name": "x.safetensors", "available_models": names, "available_count": 25}
    message, _ = compose(C.MODEL_MISSING, features)
    assert message.endswith("It has: " + ", ".join(names) + " (+15 more).")
    few, _ = compose(C.MODEL_MISSING, {"available_models": ["a.ckpt"]})
    assert few.endswith("It has: a.ckpt.")
    none, _ = compose(C.MODEL_MISSING, {"model_name": "x.safetensors"})
    assert none.endswith("on the backend: x.safetensors.")
