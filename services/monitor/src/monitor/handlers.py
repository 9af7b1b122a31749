"""The monitor's behaviour on the bus: dispatch events fold into the watch set, and the
periodic checks and reconciles of every followed backend."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Final

from contracts import subjects
from contracts.codec import AnyEvent
from contracts.job import JobDispatched
from contracts.streams import CONSUMERS_BY_NAME
from cr_runtime.consumer import Delivery
from monitor.adapters.ledger import Ledger
from monitor.clock import Clock
from monitor.follower import Follower
from monitor.watch import WatchSet

REBUILD_SUBJECTS: Final = CONSUMERS_BY_NAME[subjects.DURABLE_MONITOR_DISPATCHES].filter_subjects
"""What the watch set folds: the subjects of the monitor's dispatch consumer."""


async def rebuild(ledger: Ledger, watches: WatchSet, clock: Clock) -> int:
    """Fold every stored dispatch, outcome and interrupt into `watches`; returns the count.

    The fold is a set difference (dispatched minus finished), so reading the four subjects
    one after another gives the same result as reading them interleaved.
    """
    count = 0
    for subject in REBUILD_SUBJECTS:
        async with contextlib.aclosing(ledger.replay(subject)) as events:
            async for event in events:
                watches.apply(event, clock.now())
                count += 1
    return count


class Watching:
    """What the monitor does with its dispatch consumer and its check timer."""

    def __init__(
        self,
        watches: WatchSet,
        followers: Mapping[str, Follower],
        clock: Clock,
        *,
        reconcile_interval_s: float,
    ) -> None:
        self.watches = watches
        self.followers = followers
        self.clock = clock
        self.reconcile_interval_s = reconcile_interval_s
        self._last_reconcile = clock.now()

    async def on_event(self, event: AnyEvent, delivery: Delivery) -> None:
        """Fold a dispatch, outcome or interrupt in; a new dispatch is looked at once now
        (it may have finished before we heard of it)."""
        self.watches.apply(event, self.clock.now())
        if isinstance(event, JobDispatched) and event.backend_id in self.followers:
            follower = self.followers[event.backend_id]
            for prompt in list(self.watches.on_backend(event.backend_id)):
                if prompt.job_id == event.job_id and prompt.attempt == event.attempt:
                    await follower.finish(prompt)

    async def tick(self) -> None:
        """One round: every backend's checks, and its reconcile when one is due."""
        for follower in self.followers.values():
            await follower.check()
        if self.clock.now() - self._last_reconcile >= self.reconcile_interval_s:
            self._last_reconcile = self.clock.now()
            for follower in self.followers.values():
                await follower.reconcile()

    async def loop(self, every_s: float) -> None:
        """`tick` every `every_s` seconds, forever."""
        while True:
            await asyncio.sleep(every_s)
            await self.tick()
