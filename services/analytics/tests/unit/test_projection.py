"""Event → row mapping: every event type, the envelope, models, decisions, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from analytics.projection import (
    COLUMNS,
    MESSAGE_MAX,
    EventRow,
    decision_outcome,
    dedup_token,
    model_of,
    to_row,
)
from contracts import (
    Abort,
    BackendHealth,
    BackendInventory,
    BreakerChanged,
    BreakerState,
    Dispatch,
    DispatchedPrompt,
    DispatchResumed,
    EmergencyStopRequested,
    FailureClass,
    FailureClassified,
    FailureEvidence,
    FreeVram,
    GpuSampled,
    InputAsset,
    InterruptSent,
    JobCancelRequested,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobProgressed,
    JobRetryRequested,
    JobSubmitted,
    RecoveryDecided,
    Retryability,
    Severity,
    Strategy,
)
from contracts.codec import EVENT_TYPES, AnyEvent, decode

AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
ENV: dict[str, Any] = {
    "event_id": "e1",
    "job_id": "j1",
    "attempt": 2,
    "occurred_at": AT,
    "source": "svc/1",
    "causation_id": "c0",
}
OOM = FailureEvidence(surface="execution_error", message="CUDA out of memory")

TYPED_DEFAULTS = {k: v for k, v in EventRow._field_defaults.items() if k != "payload"}
"""The typed columns and their values when an event type does not set them."""

SAMPLES: list[tuple[AnyEvent, dict[str, Any]]] = [
    (JobSubmitted(**ENV, workflow={}, params={"ckpt_name": "sdxl"}), {"model": "sdxl"}),
    (
        JobDispatched(
            **ENV,
            backend_id="b1",
            prompts=[DispatchedPrompt(prompt_id="p")],
            client_id="c",
            params={"unet_name": "flux"},
        ),
        {"backend_id": "b1", "model": "flux"},
    ),
    (JobProgressed(**ENV, backend_id="b1", prompt_id="p"), {"backend_id": "b1"}),
    (
        JobCompleted(**ENV, backend_id="b1", prompt_ids=["p"], duration_s=12.5),
        {"backend_id": "b1", "outcome": "completed", "terminal": True, "duration_s": 12.5},
    ),
    (
        JobFailed(**ENV, backend_id="b2", evidence=OOM),
        {"backend_id": "b2", "message": "CUDA out of memory"},
    ),
    (JobCancelRequested(**ENV, reason="owner"), {"message": "owner"}),
    (JobRetryRequested(**ENV, requested_by="op"), {}),
    (
        InterruptSent(**ENV, backend_id="b1", prompt_id="p", reason="stall"),
        {"backend_id": "b1", "message": "stall"},
    ),
    (
        FailureClassified(
            **ENV,
            failed_event_id="f1",
            failure_class=FailureClass.GPU_OOM,
            error_code="GPU_OUT_OF_MEMORY",
            retryable=True,
            retryability=Retryability.YES,
            severity=Severity.MEDIUM,
            rule="oom",
            backend_id="b2",
            features={"models": ["sdxl", "vae"]},
            evidence=OOM,
        ),
        {
            "ref_event_id": "f1",
            "backend_id": "b2",
            "model": "sdxl",
            "failure_class": "GPU_OOM",
            "error_code": "GPU_OUT_OF_MEMORY",
            "retryable": True,
            "message": "CUDA out of memory",
        },
    ),
    (
        RecoveryDecided(
            **ENV,
            answers_event_id="c1",
            strategy=Strategy.FREE_VRAM,
            failure_class=FailureClass.GPU_OOM,
            actions=[
                FreeVram(backend_id="b2"),
                Dispatch(attempt=3, workflows=[{}], backend_hint="b3"),
            ],
            reason="free then retry",
        ),
        {
            "ref_event_id": "c1",
            "backend_id": "b3",
            "failure_class": "GPU_OOM",
            "strategy": "FREE_VRAM",
            "strategies": ("FREE_VRAM",),
            "outcome": "dispatch",
            "next_attempt": 3,
            "message": "free then retry",
        },
    ),
    (
        RecoveryDecided(
            **ENV,
            answers_event_id="c2",
            strategy=Strategy.ABORT,
            strategies=[Strategy.REROUTE, Strategy.ABORT],
            terminal=True,
            actions=[Abort(reason="no backend has it")],
        ),
        {
            "ref_event_id": "c2",
            "strategy": "ABORT",
            "strategies": ("REROUTE", "ABORT"),
            "outcome": "abort",
            "terminal": True,
            "message": "no backend has it",
        },
    ),
    (EmergencyStopRequested(**ENV, reason="drill"), {"message": "drill"}),
    (DispatchResumed(**ENV), {}),
    (
        BackendHealth(**ENV, backend_id="b1", reachable=False, error="refused"),
        {"backend_id": "b1", "message": "refused"},
    ),
    (BackendInventory(**ENV, backend_id="b1", node_classes=["KSampler"]), {"backend_id": "b1"}),
    (
        BreakerChanged(
            **ENV,
            backend_id="b1",
            state=BreakerState.OPEN,
            previous=BreakerState.CLOSED,
            reason="3 faults",
        ),
        {"backend_id": "b1", "outcome": "open", "message": "3 faults"},
    ),
    (GpuSampled(**ENV, backend_id="b1", memory_used=3), {"backend_id": "b1"}),
]


def test_samples_cover_every_event_type_of_the_codec() -> None:
    assert {type(event) for event, _ in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize(("event", "typed"), SAMPLES, ids=lambda v: type(v).__name__)
def test_each_event_type_maps_to_envelope_and_its_typed_columns(
    event: AnyEvent, typed: dict[str, Any]
) -> None:
    row = to_row(event, "CR_EVENTS", 42)
    actual = {column: getattr(row, column) for column in TYPED_DEFAULTS}
    assert actual == {**TYPED_DEFAULTS, **typed}
    assert row[:9] == (
        "e1",
        type(event).__struct_config__.tag,
        "CR_EVENTS",
        42,
        "j1",
        2,
        AT,
        "svc/1",
        "c0",
    )
    assert decode(row.payload.encode()) == event


def test_columns_are_the_row_fields_in_order() -> None:
    assert COLUMNS[:3] == ("event_id", "type", "stream") and COLUMNS[-1] == "payload"


def test_cancelling_abort_is_a_cancel_and_a_decision_without_dispatch_is_other() -> None:
    assert decision_outcome([Abort(reason="x", cancelled=True)]) == "cancel"
    assert decision_outcome([FreeVram(backend_id="b")]) == "other"


@pytest.mark.parametrize(
    ("values", "model"),
    [
        ({"model": "a", "ckpt_name": "b"}, "a"),
        ({"ckpt_name": "b"}, "b"),
        ({"models": []}, ""),
        ({"models": ["m1", "m2"]}, "m1"),
        ({"model_name": 3, "unet_name": "u"}, "u"),
        ({}, ""),
    ],
)
def test_model_is_the_first_named_model(values: dict[str, Any], model: str) -> None:
    assert model_of(values) == model


def test_occurred_at_is_stored_in_utc_and_naive_times_are_taken_as_utc() -> None:
    east = AT.astimezone(timezone(timedelta(hours=2)))
    naive = AT.replace(tzinfo=None)
    for moment in (east, naive):
        event = JobRetryRequested(**{**ENV, "occurred_at": moment})
        assert to_row(event, "s", 1).occurred_at == AT


def test_payload_drops_uploaded_input_bytes_and_long_messages_are_clipped() -> None:
    asset = InputAsset(name="in.png", data_b64="QUJD" * 1000)
    submitted = JobSubmitted(**ENV, workflow={}, inputs=[asset])
    payload = msgspec.json.decode(to_row(submitted, "s", 1).payload)
    assert payload["inputs"] == [{"name": "in.png", "data_b64": "", "subfolder": ""}]
    long = FailureEvidence(surface="log", message="x" * (MESSAGE_MAX + 10))
    assert len(to_row(JobFailed(**ENV, evidence=long), "s", 1).message) == MESSAGE_MAX


def test_out_of_range_attempts_are_clamped_into_the_column_type() -> None:
    low = to_row(JobRetryRequested(**{**ENV, "attempt": -1}), "s", 1)
    decided = RecoveryDecided(
        **ENV,
        answers_event_id="c",
        strategy=Strategy.RETRY,
        actions=[Dispatch(attempt=2**40, workflows=[])],
    )
    assert (low.attempt, to_row(decided, "s", 1).next_attempt) == (0, 2**32 - 1)


def test_dedup_token_names_the_set_of_events_whatever_their_order() -> None:
    rows = [to_row(JobRetryRequested(**{**ENV, "event_id": f"e{i}"}), "s", i) for i in range(3)]
    assert dedup_token(rows) == dedup_token(list(reversed(rows)))
    assert dedup_token(rows) != dedup_token(rows[:2])
