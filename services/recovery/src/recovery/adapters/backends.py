"""The backend registry in KV (`subjects.KV_BACKENDS`): ``<backend>.inventory``,
``<backend>.health`` and ``<backend>.breaker``, shared by every recovery instance.

Telemetry events are written there (inventory when its content changes, health when a
field decisions read changes); breakers change only by compare-and-set, so instances
never overwrite each other. A watch on the bucket keeps this instance's copy current.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import structlog
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from contracts import subjects
from contracts.backend import BackendHealth, BackendInventory, BreakerState
from cr_client.bus import Bus
from recovery import breaker as breakers
from recovery.adapters.kv_watch import KvFollower, KvView
from recovery.adapters.nats_errors import UNAVAILABLE, unavailable
from recovery.breaker import Breaker, BreakerConfig
from recovery.errors import BreakerContentionError
from recovery.inventory import BackendView, Inventory
from recovery.outliers import Fleet

log = structlog.get_logger(__name__)
INVENTORY: Final = "inventory"
HEALTH: Final = "health"
BREAKER: Final = "breaker"
_KINDS: Final = {INVENTORY: BackendInventory, HEALTH: BackendHealth, BREAKER: Breaker}
_UNSAFE: Final = re.compile(r"[^-/_=a-zA-Z0-9]")
_CAS_ATTEMPTS: Final = 20
_VRAM_STEP: Final = 256 * 1024**2


def key(backend_id: str, kind: str) -> str:
    """The KV key of one record of a backend (unsafe characters become ``_``)."""
    return f"{_UNSAFE.sub('_', backend_id) or '_'}.{kind}"


class BackendRegistry(KvView):
    """This instance's copy of the registry, and the writes to it."""

    def __init__(self, kv: KeyValue, config: BreakerConfig) -> None:
        self._kv = kv
        self.config = config
        self.inventories: dict[str, BackendInventory] = {}
        self.health: dict[str, BackendHealth] = {}
        self.breakers: dict[str, Breaker] = {}
        self._follower = KvFollower(kv, ">", self._absorb)

    @classmethod
    async def open(cls, bus: Bus, config: BreakerConfig) -> BackendRegistry:
        """A registry on the bus's backends bucket, loaded with what is there now."""
        registry = cls(await bus.kv(subjects.KV_BACKENDS), config)
        await registry.load()
        return registry

    def snapshot(self, now: datetime) -> Inventory:
        """Every known backend with its breaker's state at `now` (for `decide`)."""
        ids = set(self.inventories) | set(self.health) | set(self.breakers)
        return Inventory.of(self._view(backend_id, now) for backend_id in sorted(ids))

    def _view(self, backend_id: str, now: datetime) -> BackendView:
        breaker = self.breaker(backend_id)
        state = breakers.effective_state(breaker, now.timestamp(), self.config)
        half_open_at = None
        if state is BreakerState.OPEN and breaker.open_until is not None:
            half_open_at = datetime.fromtimestamp(breaker.open_until, UTC)
        return BackendView.of(
            backend_id,
            self.inventories.get(backend_id),
            self.health.get(backend_id),
            state,
            half_open_at,
        )

    def fleet(self, backend_id: str, at: float) -> Fleet:
        """The rest of the fleet as seen from `backend_id` (for the outlier rule)."""
        ids = set(self.inventories) | set(self.health) | set(self.breakers) | {backend_id}
        known = [self.breaker(other) for other in sorted(ids)]
        return breakers.fleet_of(known, backend_id, at, self.config)

    def breaker(self, backend_id: str) -> Breaker:
        """The breaker of `backend_id` as last seen (closed when never written)."""
        return self.breakers.get(backend_id) or Breaker(backend_id)

    async def record_inventory(self, event: BackendInventory) -> None:
        """Keep the latest inventory; write it when its content changed."""
        previous = self.inventories.get(event.backend_id)
        self.inventories[event.backend_id] = event
        if previous is None or _content(previous) != _content(event):
            await self._put(key(event.backend_id, INVENTORY), msgspec.json.encode(event))

    async def record_health(self, event: BackendHealth) -> None:
        """Keep the latest health; write it when a field decisions read changed."""
        previous = self.health.get(event.backend_id)
        self.health[event.backend_id] = event
        if previous is None or _marks(previous) != _marks(event):
            await self._put(key(event.backend_id, HEALTH), msgspec.json.encode(event))

    async def update_breaker(
        self, backend_id: str, change: Callable[[Breaker], Breaker]
    ) -> tuple[Breaker, Breaker]:
        """Apply `change` to the stored breaker by compare-and-set; (before, after).

        Raises:
            BreakerContentionError: other writers won `_CAS_ATTEMPTS` races in a row.
            StoreUnavailableError: NATS did not answer.
        """
        name = key(backend_id, BREAKER)
        for _ in range(_CAS_ATTEMPTS):
            current, revision = await self._read_breaker(backend_id, name)
            new = change(current)
            if new == current:
                return current, current
            try:
                if revision:
                    await self._kv.update(name, msgspec.json.encode(new), last=revision)
                else:
                    await self._kv.create(name, msgspec.json.encode(new))
            except KeyWrongLastSequenceError:
                continue
            except UNAVAILABLE as exc:
                raise unavailable(f"write breaker {backend_id}", exc) from exc
            self.breakers[backend_id] = new
            return current, new
        raise BreakerContentionError(f"breaker {backend_id}: too many concurrent updates")

    async def _read_breaker(self, backend_id: str, name: str) -> tuple[Breaker, int]:
        try:
            entry = await self._kv.get(name)
        except KeyNotFoundError:
            return Breaker(backend_id), 0
        except UNAVAILABLE as exc:
            raise unavailable(f"read breaker {backend_id}", exc) from exc
        if not entry.value:
            return Breaker(backend_id), entry.revision or 0
        return msgspec.json.decode(entry.value, type=Breaker), entry.revision or 0

    async def _put(self, name: str, data: bytes) -> None:
        try:
            await self._kv.put(name, data)
        except UNAVAILABLE as exc:
            raise unavailable(f"write {name}", exc) from exc

    def _tables(self) -> dict[str, dict[str, Any]]:
        return {INVENTORY: self.inventories, HEALTH: self.health, BREAKER: self.breakers}

    def _absorb(self, entry: KeyValue.Entry) -> None:
        backend_key, _, kind = entry.key.rpartition(".")
        if kind not in _KINDS:
            return
        table = self._tables()[kind]
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            table.pop(backend_key, None)
            return
        try:
            value: Any = msgspec.json.decode(entry.value, type=_KINDS[kind])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("registry.undecodable", key=entry.key, error=str(exc))
            return
        table[value.backend_id] = value


def _content(event: BackendInventory) -> tuple[Any, ...]:
    return (
        event.digest,
        sorted(event.node_classes),
        {k: sorted(v) for k, v in event.models.items()},
        event.comfyui_version,
        event.device_type,
        event.device_name,
        event.vram_total,
    )


def _marks(event: BackendHealth) -> tuple[Any, ...]:
    free = None if event.vram_free is None else event.vram_free // _VRAM_STEP
    return (
        event.reachable,
        event.comfyui_version,
        event.device_type,
        event.vram_total,
        free,
        event.queue_running + event.queue_pending,
    )
