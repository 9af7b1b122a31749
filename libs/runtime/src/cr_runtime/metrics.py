"""Prometheus metrics every service shares (consumption, publishing, dead letters)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED: Final = Counter(
    "cr_events_consumed_total", "Events handled by a consumer", ["durable", "family"]
)
EVENTS_PUBLISHED: Final = Counter("cr_events_published_total", "Events published", ["family"])
EVENTS_DUPLICATE: Final = Counter(
    "cr_events_duplicate_total", "Publishes JetStream dropped as duplicates", ["family"]
)
REDELIVERIES: Final = Counter(
    "cr_redeliveries_total", "Messages delivered more than once", ["durable"]
)
DEADLETTERED: Final = Counter(
    "cr_deadlettered_total", "Messages sent to the dead-letter subject", ["durable", "reason"]
)
HANDLER_SECONDS: Final = Histogram("cr_handler_seconds", "Time to process one message", ["durable"])
HANDLER_ERRORS: Final = Counter(
    "cr_handler_errors_total", "Messages whose processing failed", ["durable", "kind"]
)
CONSUMER_LAG: Final = Gauge(
    "cr_consumer_lag", "Messages pending for a durable consumer", ["durable"]
)
CONSUMER_RESUBSCRIBES: Final = Counter(
    "cr_consumer_resubscribes", "Times the watchdog rebound a stuck consumer", ["durable"]
)


def family_of(subject: str) -> str:
    """The first two tokens of a subject (``job.failed``), a bounded metric label."""
    return ".".join(subject.split(".", 2)[:2])
