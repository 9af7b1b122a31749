"""A pure, point-in-time view of the backends: what each can run, its health, its breaker."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from contracts.backend import BackendHealth, BackendInventory, BreakerState
from recovery import nodes
from recovery.graph import Requirements

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BackendView:
    """One backend as recovery sees it (``node_classes`` None: inventory not known;
    ``half_open_at``: when an open breaker will let trial work through)."""

    backend_id: str
    node_classes: frozenset[str] | None = None
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)
    comfyui_version: str | None = None
    device_type: str | None = None
    device_name: str | None = None
    vram_total: int | None = None
    vram_free: int | None = None
    reachable: bool | None = None
    queue: int = 0
    breaker: BreakerState = BreakerState.CLOSED
    half_open_at: datetime | None = None

    @classmethod
    def of(
        cls,
        backend_id: str,
        inventory: BackendInventory | None,
        health: BackendHealth | None,
        breaker: BreakerState = BreakerState.CLOSED,
        half_open_at: datetime | None = None,
    ) -> BackendView:
        """Combine the latest inventory and health events of a backend."""
        models: dict[str, frozenset[str]] = {}
        for folder, names in (inventory.models if inventory else {}).items():
            key = nodes.canonical_folder(folder)
            models[key] = models.get(key, frozenset()) | frozenset(names)
        return cls(
            backend_id=backend_id,
            node_classes=frozenset(inventory.node_classes) if inventory else None,
            models=models,
            comfyui_version=_first(
                inventory.comfyui_version if inventory else None,
                health.comfyui_version if health else None,
            ),
            device_type=_first(
                inventory.device_type if inventory else None,
                health.device_type if health else None,
            ),
            device_name=inventory.device_name if inventory else None,
            vram_total=_first(
                inventory.vram_total if inventory else None,
                health.vram_total if health else None,
            ),
            vram_free=health.vram_free if health else None,
            reachable=health.reachable if health else None,
            queue=(health.queue_running + health.queue_pending) if health else 0,
            breaker=breaker,
            half_open_at=half_open_at,
        )

    @property
    def usable(self) -> bool:
        """Whether work may be sent here now (breaker not open, not seen unreachable)."""
        return self.breaker is not BreakerState.OPEN and self.reachable is not False

    def models_in(self, folder: str) -> frozenset[str]:
        """The model files of `folder` (every folder's when `folder` is unknown)."""
        if folder:
            return self.models.get(nodes.canonical_folder(folder), frozenset())
        return frozenset().union(*self.models.values()) if self.models else frozenset()

    def has_model(self, folder: str, name: str) -> bool:
        """Whether this backend holds exactly `name` in `folder`."""
        return name in self.models_in(folder)

    def can_run(self, needs: Requirements) -> bool:
        """Whether the inventory is known and holds every node class and model needed."""
        if self.node_classes is None or not needs.node_classes <= self.node_classes:
            return False
        return all(self.has_model(folder, name) for folder, name in needs.models)

    def rank(self) -> tuple[int, int, int, int, str]:
        """Sort key: closed breaker, seen reachable, short queue, free VRAM, then id."""
        return (
            int(self.breaker is BreakerState.HALF_OPEN),
            int(self.reachable is None),
            self.queue,
            -(self.vram_free or 0),
            self.backend_id,
        )


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every known backend."""

    backends: Mapping[str, BackendView] = field(default_factory=dict)

    @classmethod
    def of(cls, views: Iterable[BackendView]) -> Inventory:
        """An inventory of `views`."""
        return cls({view.backend_id: view for view in views})

    def get(self, backend_id: str | None) -> BackendView | None:
        """The backend `backend_id`, if known."""
        return self.backends.get(backend_id) if backend_id is not None else None

    def candidates(
        self,
        needs: Requirements,
        exclude: Iterable[str] = (),
        accept: Callable[[BackendView], bool] = lambda _: True,
    ) -> list[BackendView]:
        """Usable backends that can run `needs`, not excluded, accepted, best first."""
        banned = set(exclude)
        found = [
            view
            for view in self.backends.values()
            if view.backend_id not in banned
            and view.usable
            and view.can_run(needs)
            and accept(view)
        ]
        return sorted(found, key=BackendView.rank)


def _first(*values: _T | None) -> _T | None:
    for value in values:
        if value is not None:
            return value
    return None
