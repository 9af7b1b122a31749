"""The `failure.classified` event answering a `job.failed`: derived id, causation, copies."""

from __future__ import annotations

from datetime import UTC, datetime

from classifier.engine import classify
from classifier.handlers import classified_event
from contracts import codec
from contracts.envelope import derive_event_id
from contracts.job import FailureEvidence, JobFailed
from contracts.taxonomy import FailureClass
from cr_runtime.settings import instance_source

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FAILED = JobFailed(
    event_id="f-1",
    job_id="job-7",
    attempt=2,
    occurred_at=NOW,
    source="monitor/x",
    backend_id="gpu-a",
    prompt_id="p-1",
    evidence=FailureEvidence(surface="execution_error", exception_type="torch.OutOfMemoryError"),
)


def test_the_output_id_is_derived_from_the_input_id() -> None:
    event = classified_event(FAILED, classify(FAILED.evidence), "classifier/t", NOW)
    assert event.event_id == derive_event_id("f-1", "classified")
    assert event == classified_event(FAILED, classify(FAILED.evidence), "classifier/t", NOW)


def test_the_output_keeps_job_attempt_backend_prompt_and_evidence() -> None:
    event = classified_event(FAILED, classify(FAILED.evidence), "classifier/t", NOW)
    assert (event.job_id, event.attempt, event.backend_id, event.prompt_id) == (
        "job-7",
        2,
        "gpu-a",
        "p-1",
    )
    assert event.causation_id == event.failed_event_id == "f-1"
    assert event.evidence == FAILED.evidence
    assert event.failure_class == FailureClass.GPU_OOM
    assert codec.subject_for(event) == "failure.classified.job-7"


def test_the_output_round_trips_through_the_codec() -> None:
    event = classified_event(FAILED, classify(FAILED.evidence), instance_source("classifier"), NOW)
    assert codec.decode(codec.encode(event)) == event
    assert event.source.startswith("classifier/")
