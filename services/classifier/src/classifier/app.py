"""The only wiring: bus, rule sources, consumer, logging, health."""

from __future__ import annotations

import asyncio

import structlog

from classifier.config import Settings
from classifier.handlers import FailureHandler
from classifier.rulebook import RuleBook
from classifier.rules import default_rules
from classifier.rulesources import FileRules, KvRules, report
from contracts import subjects
from cr_client.bus import Bus
from cr_runtime.bulk import ConcurrentConsumer
from cr_runtime.service import Service, run_service

SERVICE = "classifier"
log = structlog.get_logger(__name__)


async def build(bus: Bus, settings: Settings) -> Service:
    """The classifier's consumer and its rule watchers, on a connected bus."""
    book = RuleBook()
    report(default_rules().errors, "default")
    if not default_rules().vocabulary.prepare():  # compiled before the first failure arrives
        log.warning("rules.scan_unavailable", source="default")
    file_rules = FileRules(settings.rules_file, book, settings.rules_poll_s)
    file_rules.check()
    kv_rules = KvRules(await bus.kv(subjects.KV_RULES), book)
    handler = FailureHandler(bus, lambda: book.current, settings.source(SERVICE))
    # each failure is classified alone, so a batch's publishes are awaited together
    consumer = ConcurrentConsumer(
        bus, subjects.DURABLE_CLASSIFIER, handler, batch=settings.concurrency
    )
    return Service(consumers=[consumer], tasks=[kv_rules.watch, file_rules.poll])


async def run(settings: Settings, stop_event: asyncio.Event | None = None) -> None:
    """Run the classifier until SIGINT/SIGTERM (or `stop_event`)."""
    await run_service(SERVICE, settings, build, stop_event)
