"""The connection to NATS and the one publish helper (subject from the event, dedup header)."""

from __future__ import annotations

import asyncio
import logging
from typing import Final
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client
from nats.errors import MaxPayloadError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.kv import KeyValue

from contracts import codec, subjects
from contracts.codec import AnyEvent
from contracts.errors import BusUnavailableError, EventTooLargeError
from contracts.settings import BusSettings
from cr_client.backoff import Backoff
from cr_client.nats_errors import TRANSIENT
from cr_client.streams import ensure_streams

log = logging.getLogger(__name__)
PUBLISH_BACKOFF: Final = Backoff(0.1, 2.0)
"""Between publish attempts whose ack did not come."""
ENSURE_WINDOW_S: Final = 60.0
"""How long `Bus.ensure` waits for JetStream to answer (a cluster electing its leader)."""
ENSURE_BACKOFF: Final = Backoff(0.5, 5.0)
NOT_READY: Final[tuple[type[BaseException], ...]] = (*TRANSIENT, BusUnavailableError)
"""What a JetStream that is still starting (or electing leaders) answers."""
_CONNECT_FAILED: Final[tuple[type[BaseException], ...]] = (*TRANSIENT, OSError)


class Bus:
    """A NATS connection with JetStream, shared by a service's publishers and consumers."""

    def __init__(self, nc: Client, settings: BusSettings) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=settings.publish_timeout_s)
        self.settings = settings
        self._kv: dict[str, KeyValue] = {}

    @classmethod
    async def connect(
        cls, settings: BusSettings, *, name: str = "comfy-recovery", ensure: bool = True
    ) -> Bus:
        """Connect (reconnecting forever once connected) and optionally `ensure` streams.

        Raises:
            BusUnavailableError: no server answered.
        """
        await _probe(settings)
        try:
            nc = await nats.connect(
                servers=settings.servers(),
                name=name,
                connect_timeout=settings.connect_timeout_s,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                error_cb=_log_error,
                disconnected_cb=_log_disconnected,
                reconnected_cb=_log_reconnected,
            )
        except _CONNECT_FAILED as exc:
            raise BusUnavailableError(f"NATS unreachable at {settings.url}: {exc}") from exc
        bus = cls(nc, settings)
        if ensure:
            await bus.ensure()
        return bus

    async def ensure(self, window_s: float = ENSURE_WINDOW_S) -> None:
        """Apply the stream, consumer and KV definitions (idempotent), retrying transient
        errors for up to `window_s`: a cluster that has just started (or lost a node)
        answers JetStream requests only once it has elected a meta leader.

        Raises:
            BusUnavailableError: JetStream did not answer within `window_s`.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + window_s
        attempt = 0
        while True:
            try:
                await ensure_streams(self.js, self.settings)
                return
            except NOT_READY as exc:
                attempt += 1
                if loop.time() >= give_up:
                    raise BusUnavailableError(f"JetStream not ready: {exc!r}") from exc
                log.warning("bus.ensure_retry", extra={"attempt": attempt, "error": repr(exc)})
                await asyncio.sleep(ENSURE_BACKOFF.delay(attempt))

    async def publish(self, event: AnyEvent, *, timeout: float | None = None) -> PubAck:
        """Publish `event` on its subject with ``Nats-Msg-Id = event_id``.

        A publish whose ack timed out is retried; JetStream's dedup window makes the
        retry harmless.

        Raises:
            BusUnavailableError: no ack after ``publish_retries`` attempts.
        """
        subject = codec.subject_for(event)
        data = codec.encode(event)
        ack = await self.publish_raw(
            subject, data, {subjects.HDR_MSG_ID: event.event_id}, timeout=timeout
        )
        self.on_published(subject, ack)
        return ack

    def on_published(self, subject: str, ack: PubAck) -> None:
        """Called after each event is stored (the service runtime counts them); a no-op."""

    async def publish_raw(
        self, subject: str, data: bytes, headers: dict[str, str], *, timeout: float | None = None
    ) -> PubAck:
        """Publish bytes to JetStream with retries (dead letters and tests use this).

        Raises:
            BusUnavailableError: no ack after ``publish_retries`` attempts.
            EventTooLargeError: the message is over the server's max_payload (permanent:
                a consumer dead-letters the message that caused it, instead of retrying).
        """
        if len(data) > self.nc.max_payload:
            raise EventTooLargeError(subject, len(data), self.nc.max_payload)
        wait = timeout or self.settings.publish_timeout_s
        for attempt in range(1, self.settings.publish_retries + 1):
            try:
                return await self.js.publish(subject, data, timeout=wait, headers=headers)
            except MaxPayloadError as exc:  # headers count too
                raise EventTooLargeError(subject, len(data), self.nc.max_payload) from exc
            except TRANSIENT as exc:
                if attempt == self.settings.publish_retries:
                    raise BusUnavailableError(f"publish to {subject} failed: {exc!r}") from exc
                log.warning(
                    "publish.retry",
                    extra={"subject": subject, "attempt": attempt, "error": repr(exc)},
                )
                await asyncio.sleep(PUBLISH_BACKOFF.delay(attempt))
        raise AssertionError("unreachable")

    async def kv(self, bucket: str) -> KeyValue:
        """The KV bucket `bucket` (created by `ensure`)."""
        if bucket not in self._kv:
            self._kv[bucket] = await self.js.key_value(bucket)
        return self._kv[bucket]

    async def close(self) -> None:
        """Flush and close the connection."""
        if not self.nc.is_closed:
            try:
                await self.nc.drain()
            except TRANSIENT:
                await self.nc.close()


async def _probe(settings: BusSettings) -> None:
    """Fail fast when no server listens (the client itself would retry forever)."""
    errors = []
    for server in settings.servers():
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222),
                settings.connect_timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            errors.append(f"{server}: {exc!r}")
            continue
        writer.close()
        return
    raise BusUnavailableError(f"NATS unreachable at {settings.url}: {'; '.join(errors)}")


async def _log_error(exc: Exception) -> None:
    log.warning("nats.error", extra={"error": repr(exc)})


async def _log_disconnected() -> None:
    log.info("nats.disconnected")


async def _log_reconnected() -> None:
    log.info("nats.reconnected")
