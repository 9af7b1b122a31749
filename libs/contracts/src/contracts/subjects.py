"""Every wire name: subjects, streams, durables, KV buckets and headers. Nowhere else."""

from __future__ import annotations

from typing import Final

# --- streams -----------------------------------------------------------------------------
EVENTS_STREAM: Final = "CR_EVENTS"
"""Job, failure, recovery and control events: the source of truth."""
TELEMETRY_STREAM: Final = "CR_TELEMETRY"
"""Backend health/inventory/breaker and GPU samples: high volume, shorter retention."""
DEADLETTER_STREAM: Final = "CR_DEADLETTER"
"""Messages no consumer could decode, with the reason."""

EVENTS_SUBJECTS: Final = ("job.>", "failure.>", "recovery.>", "control.>")
"""Subjects captured by the events stream."""
TELEMETRY_SUBJECTS: Final = ("backend.>", "gpu.>")
"""Subjects captured by the telemetry stream."""
DEADLETTER_SUBJECTS: Final = ("deadletter.>",)
"""Subjects captured by the dead-letter stream."""

# --- per-job subject families (last token is the job id) --------------------------------
JOB_SUBMITTED: Final = "job.submitted"
JOB_DISPATCHED: Final = "job.dispatched"
JOB_PROGRESS: Final = "job.progress"
JOB_COMPLETED: Final = "job.completed"
JOB_FAILED: Final = "job.failed"
JOB_CANCEL_REQUESTED: Final = "job.cancel_requested"
JOB_RETRY_REQUESTED: Final = "job.retry_requested"
JOB_INTERRUPT_SENT: Final = "job.interrupt_sent"
FAILURE_CLASSIFIED: Final = "failure.classified"
RECOVERY_DECIDED: Final = "recovery.decided"
CONTROL_EMERGENCY_STOP: Final = "control.emergency_stop"
"""Fixed subject: an operator asked every backend to stop our work."""
CONTROL_RESUMED: Final = "control.resumed"
"""Fixed subject: dispatch may go on after an emergency stop."""
BACKEND_HEALTH: Final = "backend.health"
BACKEND_INVENTORY: Final = "backend.inventory"
BACKEND_BREAKER: Final = "backend.breaker"
GPU_SAMPLE: Final = "gpu.sample"
DEADLETTER_PREFIX: Final = "deadletter"
FIXED_PREFIXES: Final = ("control",)
"""Families whose subject is the family itself (no job or backend token)."""

ALL: Final = ">"


def _token(value: str) -> str:
    """A subject token made safe: NATS tokens may not hold '.', '*', '>' or spaces."""
    for bad in (".", "*", ">", " ", "\t"):
        value = value.replace(bad, "_")
    return value or "_"


def per_job(family: str, job_id: str) -> str:
    """The subject of one job's event of `family`, e.g. ``job.failed.<job_id>``."""
    return f"{family}.{_token(job_id)}"


def all_of(family: str) -> str:
    """Every job's events of `family`, e.g. ``job.failed.*``."""
    return f"{family}.*"


def per_backend(family: str, backend_id: str) -> str:
    """The subject of a backend-scoped telemetry event."""
    return f"{family}.{_token(backend_id)}"


def job_history(job_id: str) -> str:
    """All events of one job: ``*.*.<job_id>`` (control events have two tokens)."""
    return f"*.*.{_token(job_id)}"


def deadletter(original_subject: str) -> str:
    """Where an undecodable message of `original_subject` goes."""
    return f"{DEADLETTER_PREFIX}.{original_subject}"


# --- durable consumer names --------------------------------------------------------------
DURABLE_SUBMITTER_JOBS: Final = "submitter-jobs"
DURABLE_SUBMITTER_DECISIONS: Final = "submitter-decisions"
DURABLE_SUBMITTER_CONTROL: Final = "submitter-control"
DURABLE_MONITOR_DISPATCHES: Final = "monitor-dispatches"
DURABLE_MONITOR_RESTARTS: Final = "monitor-restarts"
DURABLE_CLASSIFIER: Final = "classifier"
DURABLE_RECOVERY: Final = "recovery"
DURABLE_RECOVERY_TELEMETRY: Final = "recovery-telemetry"
DURABLE_ANALYTICS_EVENTS: Final = "analytics-events"
DURABLE_ANALYTICS_TELEMETRY: Final = "analytics-telemetry"

# --- KV buckets --------------------------------------------------------------------------
KV_JOBS: Final = "cr_jobs"
"""The job read model (status, attempts, recovery_history), key = job id."""
KV_BACKENDS: Final = "cr_backends"
"""Backend registry: ``<backend>.health``, ``<backend>.inventory``, ``<backend>.breaker``."""
KV_POLICY: Final = "cr_policy"
"""The live default recovery policy, key ``default``."""
KV_RULES: Final = "cr_rules"
"""Operators' custom classifier rules."""
KV_SNAPSHOTS: Final = "cr_snapshots"
"""Services' state snapshots that make a rebuild at start fast."""
KV_PROMPTS: Final = "cr_prompts"
"""Prompt id → job mapping kept by the submitter, read by the monitor."""

POLICY_KEY: Final = "default"

# --- request-reply -----------------------------------------------------------------------
ANALYTICS_QUERY: Final = "cr.rpc.analytics.stats"
"""Request-reply: the analytics service answers statistics queries."""
ANALYTICS_QUEUE: Final = "analytics-stats"
"""Queue group of the stats responders, so one instance answers each request."""

# --- headers -----------------------------------------------------------------------------
HDR_MSG_ID: Final = "Nats-Msg-Id"
"""JetStream deduplication header; always the event id."""
HDR_DLQ_REASON: Final = "Cr-Deadletter-Reason"
"""Why a message went to the dead-letter subject."""
HDR_DLQ_SUBJECT: Final = "Cr-Original-Subject"
"""The subject a dead-lettered message was published on."""
HDR_DLQ_CONSUMER: Final = "Cr-Consumer"
"""The durable that dead-lettered the message."""
