"""What every strategy reads (`Context`) and returns (`Plan`), and the tuning it obeys."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.failure import FailureClassified
from contracts.policy import RecoveryPolicy
from contracts.recovery import Action
from contracts.taxonomy import Strategy
from recovery import budget
from recovery.edits import split_batch
from recovery.graph import GraphParams, Ref, Requirements, Workflow, discover, int_at, requirements
from recovery.inventory import BackendView, Inventory
from recovery.job_state import JobState
from recovery.memory import MemoryModel


@dataclass(frozen=True, slots=True)
class Tuning:
    """Service-wide knobs of the decisions (from settings): backoff and the memory model."""

    backoff_base_s: float = 2.0
    backoff_cap_s: float = 120.0
    jitter: float = 0.25
    memory: MemoryModel = field(default_factory=MemoryModel)


@dataclass(frozen=True, slots=True)
class Plan:
    """One strategy's answer: what to do before dispatching, and how to dispatch.

    ``workflow`` is the new base graph (None: unchanged); ``part_size`` the new batch
    part size (None: unchanged); ``part_at_source`` builds each part at the batch's source
    (None: unchanged; see `edits.split_at_source`). ``notes`` explain changed inputs in the diff.
    ``wait_until``: no backend can take it now; it waits (no attempt used) until then.
    """

    strategies: tuple[Strategy, ...]
    reason: str
    actions: tuple[Action, ...] = ()
    workflow: Workflow | None = None
    part_size: int | None = None
    part_at_source: bool | None = None
    backend_hint: str | None = None
    exclude: tuple[str, ...] = ()
    require_version_other_than: str | None = None
    require_device_other_than: str | None = None
    delay_s: float = 0.0
    resume: bool = False
    notes: Mapping[Ref, str] = field(default_factory=dict)
    wait_until: datetime | None = None


class GraphMemo:
    """Graph analyses computed once per decision, keyed by graph identity (graphs never
    mutate); the one mutable part of a decision, kept out of the frozen `Context`'s value."""

    __slots__ = ("_hits",)

    def __init__(self) -> None:
        self._hits: dict[tuple[Any, ...], tuple[Workflow, Any]] = {}

    def get(self, kind: str, graph: Workflow, arg: Any, make: Callable[[], Any]) -> Any:
        """`make()` once per (kind, graph, arg)."""
        key = (kind, id(graph), arg)
        hit = self._hits.get(key)
        if hit is not None and hit[0] is graph:
            return hit[1]
        value = make()
        self._hits[key] = (graph, value)
        return value


@dataclass(frozen=True, slots=True)
class Context:
    """One failure being decided, with everything a strategy may read (no I/O)."""

    state: JobState
    failure: FailureClassified
    policy: RecoveryPolicy
    inventory: Inventory
    now: datetime
    rng: random.Random
    tuning: Tuning
    uses: int = 0
    memo: GraphMemo = field(default_factory=GraphMemo, compare=False, repr=False)
    """Per-decision cache of graph analyses; not part of the context's value."""

    def cached(self, kind: str, graph: Workflow, arg: Any, make: Callable[[], Any]) -> Any:
        """`make()` once per (kind, graph, arg) within this decision."""
        return self.memo.get(kind, graph, arg, make)

    @property
    def backend_id(self) -> str | None:
        """The backend the failure happened on."""
        return self.failure.backend_id or self.state.backend_id

    @property
    def backend(self) -> BackendView | None:
        """That backend's view, when the inventory knows it."""
        return self.inventory.get(self.backend_id)

    @property
    def features(self) -> Mapping[str, Any]:
        """The classifier's features."""
        return self.failure.features

    @property
    def failing_node(self) -> str | None:
        """The node the failure names (the classifier's features, else its evidence)."""
        evidence = self.failure.evidence
        node = self.features.get("node_id") or (evidence.node_id if evidence else None)
        return None if node is None else str(node)

    @property
    def same_backend_ok(self) -> bool:
        """Whether the failing backend may take the job again (known and usable, or unknown)."""
        view = self.backend
        return self.backend_id is not None and (view is None or view.usable)

    @property
    def next_attempt(self) -> int:
        """The attempt number a dispatch decided now gets."""
        return budget.next_attempt(self.state, self.failure.attempt)

    @property
    def excluded(self) -> frozenset[str]:
        """Backends this job must avoid (they failed it with an "elsewhere" class)."""
        return budget.bad_backends(self.state)

    def params(self, workflow: Workflow | None = None) -> GraphParams:
        """Where the parameters of `workflow` (default: the current base graph) live."""
        return discover(self.state.workflow if workflow is None else workflow, self.state.bindings)

    def workflows(
        self, workflow: Workflow | None = None, part: int | None = None
    ) -> list[Workflow]:
        """The graphs a dispatch of `workflow` split by `part` (defaults: current) posts."""
        base = self.state.workflow if workflow is None else workflow
        gp = self.params(base)
        size = self.state.part_size if part is None else part
        at_source = self.state.part_at_source
        return split_batch(base, gp.latent, int_at(base, gp.batch), size, at_source)

    def needs(self, workflow: Workflow | None = None, part: int | None = None) -> Requirements:
        """What a backend must have to run those graphs."""
        return requirements(self.workflows(workflow, part))

    def elsewhere(
        self, needs: Requirements | None = None, accept: Callable[[BackendView], bool] | None = None
    ) -> list[BackendView]:
        """Other usable backends that can run the job, best first."""
        avoid = self.excluded | ({self.backend_id} if self.backend_id else set())
        return self.inventory.candidates(needs or self.needs(), avoid, accept or (lambda _: True))

    def avoid(self) -> tuple[str, ...]:
        """The ``exclude_backends`` of a dispatch that leaves the failing backend."""
        ids = self.excluded | ({self.backend_id} if self.backend_id else set())
        return tuple(sorted(ids))


Planner = Callable[[Context], Plan | None]
"""A strategy: a plan, or None when it does not apply to this failure."""
