"""The bus of a running service: `cr_client.bus.Bus` that counts what it publishes."""

from __future__ import annotations

from nats.js.api import PubAck

from cr_client.bus import Bus
from cr_runtime import metrics


class MeteredBus(Bus):
    """A `Bus` whose event publishes are counted in ``cr_events_published_total`` (and
    ``cr_events_duplicate_total`` when JetStream dropped one as a duplicate)."""

    def on_published(self, subject: str, ack: PubAck) -> None:
        """Count one stored event by its subject family."""
        family = metrics.family_of(subject)
        metrics.EVENTS_PUBLISHED.labels(family).inc()
        if ack.duplicate:
            metrics.EVENTS_DUPLICATE.labels(family).inc()
