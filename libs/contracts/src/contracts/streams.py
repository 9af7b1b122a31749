"""Stream, consumer and KV definitions, and the idempotent `ensure` that applies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError

from contracts import subjects
from contracts.settings import BusSettings

_DAY: Final = 86_400.0
BACKOFF_S: Final = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
"""Redelivery backoff after a missed ack (the last value repeats)."""


@dataclass(frozen=True)
class ConsumerSpec:
    """One durable pull consumer: which stream, which subjects."""

    durable: str
    stream: str
    filter_subjects: tuple[str, ...]
    max_ack_pending: int = 1000
    deliver_policy: js_api.DeliverPolicy = js_api.DeliverPolicy.ALL
    description: str = ""
    unlimited_deliveries: bool = False
    """Never give a message up (a projection must not skip events while its store is down)."""
    extra: dict[str, object] = field(default_factory=dict)


CONSUMERS: Final[tuple[ConsumerSpec, ...]] = (
    ConsumerSpec(
        subjects.DURABLE_SUBMITTER_JOBS,
        subjects.EVENTS_STREAM,
        (subjects.all_of(subjects.JOB_SUBMITTED), subjects.all_of(subjects.JOB_CANCEL_REQUESTED)),
        description="submitter: first dispatch of new jobs, cancellations",
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
        deliver_policy=js_api.DeliverPolicy.NEW,
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
        ("job.>", "failure.>", "recovery.>", "control.>"),
        max_ack_pending=1,
        description="recovery: every job event, in order",
    ),
    ConsumerSpec(
        subjects.DURABLE_RECOVERY_TELEMETRY,
        subjects.TELEMETRY_STREAM,
        (subjects.all_of(subjects.BACKEND_INVENTORY), subjects.all_of(subjects.BACKEND_HEALTH)),
        deliver_policy=js_api.DeliverPolicy.NEW,
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


def stream_configs(settings: BusSettings) -> list[js_api.StreamConfig]:
    """The three streams with file storage, replicas and dedup window from `settings`."""
    events_age = settings.events_max_age_days * _DAY or None
    common = {
        "storage": js_api.StorageType.FILE,
        "num_replicas": settings.replicas,
        "duplicate_window": settings.duplicate_window_s,
    }
    return [
        js_api.StreamConfig(
            name=subjects.EVENTS_STREAM,
            subjects=list(subjects.EVENTS_SUBJECTS),
            max_age=events_age,
            allow_direct=True,
            **common,  # type: ignore[arg-type]
        ),
        js_api.StreamConfig(
            name=subjects.TELEMETRY_STREAM,
            subjects=list(subjects.TELEMETRY_SUBJECTS),
            max_age=settings.telemetry_max_age_hours * 3600,
            **common,  # type: ignore[arg-type]
        ),
        js_api.StreamConfig(
            name=subjects.DEADLETTER_STREAM,
            subjects=list(subjects.DEADLETTER_SUBJECTS),
            max_age=30 * _DAY,
            **common,  # type: ignore[arg-type]
        ),
    ]


def consumer_config(spec: ConsumerSpec, settings: BusSettings) -> js_api.ConsumerConfig:
    """The JetStream config of `spec`: explicit ack, ack wait, max deliver, backoff."""
    max_deliver = -1 if spec.unlimited_deliveries else settings.max_deliver
    backoff = [settings.ack_wait_s, *BACKOFF_S]
    if max_deliver > 0:
        backoff = backoff[: max(1, max_deliver - 1)]
    return js_api.ConsumerConfig(
        durable_name=spec.durable,
        description=spec.description,
        ack_policy=js_api.AckPolicy.EXPLICIT,
        deliver_policy=spec.deliver_policy,
        ack_wait=settings.ack_wait_s,
        max_deliver=max_deliver,
        backoff=backoff,
        max_ack_pending=spec.max_ack_pending,
        filter_subjects=list(spec.filter_subjects),
        num_replicas=settings.replicas,
    )


async def ensure_streams(js: JetStreamContext, settings: BusSettings) -> None:
    """Create or update every stream, consumer and KV bucket. Safe to run many times."""
    for config in stream_configs(settings):
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
    for spec in CONSUMERS:
        await ensure_consumer(js, spec, settings)
    for bucket, history, description in KV_BUCKETS:
        await ensure_bucket(js, bucket, history, description, settings)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec, settings: BusSettings) -> None:
    """Create `spec`'s durable consumer if it is missing (it is never reset)."""
    try:
        await js.consumer_info(spec.stream, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream, consumer_config(spec, settings))


async def ensure_bucket(
    js: JetStreamContext, bucket: str, history: int, description: str, settings: BusSettings
) -> None:
    """Create a KV bucket with file storage if it is missing."""
    try:
        await js.key_value(bucket)
    except (BucketNotFoundError, NotFoundError):
        await js.create_key_value(
            js_api.KeyValueConfig(
                bucket=bucket,
                history=history,
                description=description,
                storage=js_api.StorageType.FILE,
                replicas=settings.replicas,
            )
        )
