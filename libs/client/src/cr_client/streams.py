"""Applying the stream, consumer and KV definitions of `contracts.streams` to JetStream."""

from __future__ import annotations

from typing import Final

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import APIError, BadRequestError, BucketNotFoundError, NotFoundError

from contracts import subjects
from contracts.errors import BusUnavailableError
from contracts.settings import BusSettings
from contracts.streams import CONSUMERS, KV_BUCKETS, ConsumerSpec

_DAY: Final = 86_400.0

STREAM_NAME_IN_USE: Final = 10058
"""JSStreamNameExistErr: the stream exists with another config, so it is updated."""
CLUSTER_NOT_READY: Final = frozenset({10005, 10202})
"""Codes that a forming or changing cluster answers, which clear on their own
(nats-server `jetstream_errors_generated.go`): JSClusterNoPeersErrF "no suitable peers
for placement, peer offline" while nodes are still joining or one is down, and
JSClusterServerMemberChangeInflightErr. Both are HTTP-class 400, so nats-py raises them
as `BadRequestError`, like a truly bad config."""


def cluster_not_ready(exc: BaseException) -> bool:
    """Whether JetStream refused only because its cluster cannot place replicas yet."""
    return isinstance(exc, APIError) and exc.err_code in CLUSTER_NOT_READY


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
    """The JetStream config of `spec`: explicit ack, ack wait, max deliver.

    No `backoff` list: with one, nats-server times a nak's delay against the backoff entry
    of that delivery instead of the ack wait (delay - ack_wait + backoff[n]), so a 5 s
    `retry_after_s` came back at once for several deliveries, then after 35 s. Every
    durable delay (a retry not due yet, a held dispatch, a wait for a backend) is a nak
    delay, so they must be exact; a missed ack is redelivered after `ack_wait_s`.
    """
    max_deliver = -1 if spec.unlimited_deliveries else settings.max_deliver
    return js_api.ConsumerConfig(
        durable_name=spec.durable,
        description=spec.description,
        ack_policy=js_api.AckPolicy.EXPLICIT,
        deliver_policy=js_api.DeliverPolicy(spec.deliver_policy),
        ack_wait=settings.ack_wait_s,
        max_deliver=max_deliver,
        max_ack_pending=spec.max_ack_pending,
        filter_subjects=list(spec.filter_subjects),
        num_replicas=settings.replicas,
    )


async def ensure_streams(js: JetStreamContext, settings: BusSettings) -> None:
    """Create or update every stream, consumer and KV bucket. Safe to run many times.

    Raises:
        BusUnavailableError: the cluster cannot place the replicas yet (still forming,
            or a node is down); the caller retries.
    """
    try:
        for config in stream_configs(settings):
            await ensure_stream(js, config)
        for spec in CONSUMERS:
            await ensure_consumer(js, spec, settings)
        for bucket, history, description in KV_BUCKETS:
            await ensure_bucket(js, bucket, history, description, settings)
    except APIError as exc:
        if cluster_not_ready(exc):
            raise BusUnavailableError(f"JetStream cluster not ready: {exc}") from exc
        raise


async def ensure_stream(js: JetStreamContext, config: js_api.StreamConfig) -> None:
    """Create the stream, or update it when it exists with another config."""
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
        await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec, settings: BusSettings) -> None:
    """Create `spec`'s durable consumer if it is missing (it is never reset; a durable
    made by an older version with a `backoff` list, or with other filter subjects, is
    updated to the spec's)."""
    try:
        info = await js.consumer_info(spec.stream, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream, consumer_config(spec, settings))
        return
    if info.config.backoff or filters_of(info.config) != set(spec.filter_subjects):
        config = consumer_config(spec, settings)
        config.max_deliver = info.config.max_deliver  # an older durable keeps its own limit
        await js.add_consumer(spec.stream, config)


def filters_of(config: js_api.ConsumerConfig) -> set[str]:
    """The subjects a consumer's config filters on (one `filter_subject` or several)."""
    if config.filter_subjects:
        return set(config.filter_subjects)
    return {config.filter_subject} if config.filter_subject else set()


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
