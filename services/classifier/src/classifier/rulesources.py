"""Where custom rules come from: the operator's file (polled) and the KV bucket (watched)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.kv import KV_DEL, KV_PURGE

from classifier import metrics
from classifier.rulebook import RuleBook
from classifier.rules import RuleError

log = structlog.get_logger(__name__)
_NATS_ERRORS = (NatsError, TimeoutError, OSError)
"""Everything the NATS client raises (its errors share one base) or the network does."""


def report(errors: Iterable[RuleError], source: str) -> None:
    """Log and count rejected rules: they are skipped, never fatal."""
    metrics.RULE_RELOADS.labels(source).inc()
    for error in errors:
        metrics.RULE_ERRORS.labels(source).inc()
        log.error("rules.rejected", source=error.source, rule=error.rule_id, reason=error.reason)


class FileRules:
    """The rules file: re-read whenever its size or modification time changes."""

    def __init__(self, path: Path | None, book: RuleBook, poll_s: float = 2.0) -> None:
        self.path = path
        self.book = book
        self.poll_s = poll_s
        self._stamp: tuple[int, int] | None = None

    def check(self) -> bool:
        """Reload if the file changed; returns whether it did."""
        if self.path is None:
            return False
        stamp, text = self._read()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        report(self.book.set_file(text, f"file:{self.path.name}"), "file")
        log.info("rules.file_loaded", path=str(self.path), present=text is not None)
        return True

    def _read(self) -> tuple[tuple[int, int] | None, str | None]:
        if self.path is None:
            return None, None
        try:
            info = self.path.stat()
            return (info.st_mtime_ns, info.st_size), self.path.read_text("utf-8", "replace")
        except OSError:
            return None, None

    async def poll(self) -> None:
        """Check the file every `poll_s` seconds, forever (a background task)."""
        while True:
            await asyncio.sleep(self.poll_s)
            self.check()


class KvRules:
    """The KV bucket of custom rules: every key is one rules document; any change reloads."""

    def __init__(self, kv: Any, book: RuleBook, resync_s: float = 60.0) -> None:
        self.kv = kv
        self.book = book
        self.resync_s = resync_s
        self._applied: dict[str, bytes] | None = None
        self.loaded = asyncio.Event()

    async def watch(self) -> None:
        """Follow the bucket forever; the watch is rebuilt after errors and every `resync_s`."""
        while True:
            try:
                await self._follow()
            except _NATS_ERRORS as exc:
                log.warning("rules.kv_watch_failed", error=repr(exc))
                await asyncio.sleep(1.0)

    async def _follow(self) -> None:
        watcher = await self.kv.watchall()
        entries: dict[str, bytes] = {}
        snapshot_done = False
        deadline = time.monotonic() + self.resync_s
        try:
            while time.monotonic() < deadline:
                try:
                    entry = await watcher.updates(timeout=1.0)
                except NatsTimeout:
                    continue
                if entry is None:
                    snapshot_done = True
                else:
                    _apply_entry(entries, entry)
                if snapshot_done:
                    self._apply(entries)
        finally:
            with contextlib.suppress(*_NATS_ERRORS):
                await watcher.stop()

    def _apply(self, entries: dict[str, bytes]) -> None:
        if entries != self._applied:
            self._applied = dict(entries)
            report(self.book.set_kv(entries), "kv")
            log.info("rules.kv_loaded", keys=sorted(entries))
        self.loaded.set()


def _apply_entry(entries: dict[str, bytes], entry: Any) -> None:
    if entry.operation in (KV_DEL, KV_PURGE) or entry.value is None:
        entries.pop(entry.key, None)
    else:
        entries[entry.key] = bytes(entry.value)
