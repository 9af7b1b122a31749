"""Stream, consumer and KV definitions (data only; `cr_client.streams` applies them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from contracts import subjects

DeliverPolicy = Literal["all", "new"]


@dataclass(frozen=True)
class ConsumerSpec:
    """One durable pull consumer: which stream, which subjects."""

    durable: str
    stream: str
    filter_subjects: tuple[str, ...]
    max_ack_pending: int = 1000
    deliver_policy: DeliverPolicy = "all"
    """JetStream's deliver policy: every stored message, or only those after creation."""
    description: str = ""
    unlimited_deliveries: bool = False
    """Never give a message up (a projection must not skip events while its store is down)."""


CONSUMERS: Final[tuple[ConsumerSpec, ...]] = (
    ConsumerSpec(
        subjects.DURABLE_SUBMITTER_JOBS,
        subjects.EVENTS_STREAM,
        (subjects.all_of(subjects.JOB_SUBMITTED),),
        description="submitter: first dispatch of new jobs (recovery decides cancellations)",
    ),
    ConsumerSpec(
        subjects.DURABLE_SUBMITTER_DECISIONS,
        subjects.EVENTS_STREAM,
        (subjects.all_of(subjects.RECOVERY_DECIDED),),
        description="submitter: apply recovery decisions",
    ),
    ConsumerSpec(
        subjects.DURABLE_SUBMITTER_CONTROL,
        subjects.EVENTS_STREAM,
        (subjects.CONTROL_EMERGENCY_STOP, subjects.CONTROL_RESUMED),
        description="submitter: emergency stop / resume",
    ),
    ConsumerSpec(
        subjects.DURABLE_MONITOR_DISPATCHES,
        subjects.EVENTS_STREAM,
        (
            subjects.all_of(subjects.JOB_DISPATCHED),
            subjects.all_of(subjects.JOB_COMPLETED),
            subjects.all_of(subjects.JOB_FAILED),
            subjects.all_of(subjects.JOB_INTERRUPT_SENT),
        ),
        description="monitor: which prompts to watch",
    ),
    ConsumerSpec(
        subjects.DURABLE_MONITOR_RESTARTS,
        subjects.EVENTS_STREAM,
        (subjects.all_of(subjects.RECOVERY_DECIDED),),
        deliver_policy="new",
        description="monitor: backend restarts recovery asks for",
    ),
    ConsumerSpec(
        subjects.DURABLE_CLASSIFIER,
        subjects.EVENTS_STREAM,
        (subjects.all_of(subjects.JOB_FAILED),),
        description="classifier: raw failures",
    ),
    ConsumerSpec(
        subjects.DURABLE_RECOVERY,
        subjects.EVENTS_STREAM,
        subjects.EVENTS_SUBJECTS,
        max_ack_pending=1,
        description="recovery: every job event, in order",
    ),
    ConsumerSpec(
        subjects.DURABLE_RECOVERY_TELEMETRY,
        subjects.TELEMETRY_STREAM,
        (subjects.all_of(subjects.BACKEND_INVENTORY), subjects.all_of(subjects.BACKEND_HEALTH)),
        deliver_policy="new",
        description="recovery: backend inventory and health",
    ),
    ConsumerSpec(
        subjects.DURABLE_ANALYTICS_EVENTS,
        subjects.EVENTS_STREAM,
        (">",),
        max_ack_pending=20_000,
        description="analytics: every event",
        unlimited_deliveries=True,
    ),
    ConsumerSpec(
        subjects.DURABLE_ANALYTICS_TELEMETRY,
        subjects.TELEMETRY_STREAM,
        (">",),
        max_ack_pending=20_000,
        description="analytics: telemetry",
        unlimited_deliveries=True,
    ),
)
CONSUMERS_BY_NAME: Final = {c.durable: c for c in CONSUMERS}

KV_BUCKETS: Final[tuple[tuple[str, int, str], ...]] = (
    (subjects.KV_JOBS, 5, "job read model"),
    (subjects.KV_BACKENDS, 5, "backend registry: health, inventory, breaker"),
    (subjects.KV_POLICY, 10, "live default recovery policy"),
    (subjects.KV_RULES, 10, "custom classifier rules"),
    (subjects.KV_SNAPSHOTS, 1, "service state snapshots"),
    (subjects.KV_PROMPTS, 1, "prompt id → job"),
)
