"""HTTP request and response bodies (pydantic; the events themselves stay msgspec)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PolicyBody(BaseModel):
    """A per-job recovery policy; omitted fields take the live defaults."""

    max_attempts: int | None = Field(None, ge=1, le=50)
    per_class_limits: dict[str, int] | None = None
    deadline_s: float | None = Field(None, gt=0)
    allow_degradation: bool | None = None
    min_width: int | None = Field(None, ge=8)
    min_height: int | None = Field(None, ge=8)
    min_steps: int | None = Field(None, ge=1)
    fallback_models: dict[str, list[str]] | None = None
    stall_window_s: float | None = Field(None, gt=0)


class BindingBody(BaseModel):
    """Where a named parameter lives: node id and input name."""

    node: str
    input: str


class JobRequest(BaseModel):
    """POST /v1/jobs."""

    workflow: dict[str, Any] = Field(description="ComfyUI API-format graph")
    params: dict[str, Any] = Field(default_factory=dict)
    bindings: dict[str, BindingBody] = Field(default_factory=dict)
    policy: PolicyBody | None = None
    expected_outputs: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class JobAccepted(BaseModel):
    """The job id of an accepted submission."""

    job_id: str
    status: str = "SUBMITTED"


class RetryRequest(BaseModel):
    """POST /v1/jobs/{id}/retry."""

    force: bool = False
    policy: PolicyBody | None = None


class CancelRequest(BaseModel):
    """POST /v1/jobs/{id}/cancel."""

    reason: str = ""


class Accepted(BaseModel):
    """An operator request was recorded as an event."""

    accepted: bool = True
    job_id: str | None = None


class SeedSubmit(BaseModel):
    """The seed system's POST /api/error-recovery/jobs/submit body."""

    prompt: str = ""
    workflow_data: dict[str, Any]
    job_type: str = "image"
    parameters: dict[str, Any] | None = None
    timeout_minutes: int = Field(30, ge=1)


class SeedRetry(BaseModel):
    """The seed system's retry body."""

    job_id: str | int | None = None
    force_retry: bool = False


class RecoveryStatistics(BaseModel):
    """The seed system's statistics shape."""

    total_errors: int
    successful_recoveries: int
    failed_recoveries: int
    recovery_rate: float
    error_distribution: dict[str, int]
