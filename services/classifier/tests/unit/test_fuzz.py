"""Hostile input never breaks the classifier: huge, binary, unicode, nested, missing keys."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.engine import classify
from classifier.evidence import MAX_FIELD, MAX_TEXT, normalize
from contracts.job import FailureEvidence, NodeError
from contracts.taxonomy import FailureClass

KEYS = [
    "surface", "message", "exception_type", "node_id", "node_type", "traceback", "validation_type",
    "node_errors", "http_status", "body", "observation", "comfyui_version", "device_type",
    "current_inputs", "executed", "interrupted_by_us", "unexpected",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=200)
    | st.binary(max_size=200)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
HUGE = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=40), st.integers(0, 40_000))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value] if depth % 2 else {"k": value}
    return value


def _check(verdict: Any) -> None:
    assert verdict.failure_class in FailureClass
    msgspec.json.encode(verdict)
    assert len(verdict.user_message) < 400
    assert "Traceback" not in verdict.user_message


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=len(KEYS)))
def test_arbitrary_mappings_never_raise(raw: dict[str, Any]) -> None:
    _check(classify(raw))


@FUZZ
@given(st.sampled_from(KEYS), HUGE)
def test_huge_fields_are_bounded_before_any_pattern_runs(key: str, text: str) -> None:
    evidence = normalize({"surface": "log", key: text, "traceback": [text] * 50})
    assert len(evidence.message) <= MAX_TEXT + 3
    assert len(evidence.body) <= MAX_TEXT + 3
    assert len(evidence.traceback) <= 20 * 620
    assert len(evidence.node_type) <= MAX_FIELD + 3
    _check(classify({"surface": "log", key: text}))


@FUZZ
@given(st.integers(1, 5000), st.sampled_from(KEYS))
def test_deeply_nested_values_never_raise(depth: int, key: str) -> None:
    _check(classify({"surface": "validation", key: _nested(depth)}))


@FUZZ
@given(st.integers(1, 3000))
def test_a_deeply_nested_json_body_never_raises(depth: int) -> None:
    body = '{"node_errors": ' + "[" * depth + "]" * depth + "}"
    _check(classify({"surface": "validation", "http_status": 400, "body": body}))


@FUZZ
@given(
    st.builds(
        FailureEvidence,
        surface=st.text(max_size=30),
        message=st.text(max_size=3000),
        exception_type=st.none() | st.text(max_size=80),
        node_type=st.none() | st.text(max_size=80),
        traceback=st.lists(st.text(max_size=300), max_size=40),
        validation_type=st.none() | st.text(max_size=40),
        http_status=st.none() | st.integers(-1000, 1000),
        node_errors=st.lists(
            st.builds(
                NodeError,
                node_id=st.text(max_size=10),
                type=st.text(max_size=30),
                details=st.text(max_size=300),
                received_value=VALUES,
                input_config=VALUES,
            ),
            max_size=4,
        ),
        body=st.none() | st.text(max_size=2000),
        current_inputs=st.dictionaries(st.text(max_size=20), st.text(max_size=100), max_size=5),
    )
)
def test_arbitrary_failure_evidence_never_raises(evidence: FailureEvidence) -> None:
    _check(classify(evidence))


@FUZZ
@given(st.text(st.characters(), max_size=4000))
def test_any_unicode_message_on_any_surface_never_raises(message: str) -> None:
    for surface in ("execution_error", "validation", "log", "client", "http", "monitor"):
        _check(classify({"surface": surface, "message": message, "body": message}))


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            ["value not in list: ", "' not in [", "* Node 1:\n", "- ", "'", ":", "\n", "x"]
        ),
        max_size=400,
    )
)
def test_validation_like_text_never_raises(parts: list[str]) -> None:
    _check(classify({"surface": "log", "message": "".join(parts)}))


def test_non_mapping_input_is_unknown() -> None:
    assert classify(json.loads("[1, 2]")).failure_class == FailureClass.UNKNOWN  # type: ignore[arg-type]
