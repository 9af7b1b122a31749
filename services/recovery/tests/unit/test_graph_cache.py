"""Identical graphs held once: the bounded cache, and decisions stored with shared graphs."""

from __future__ import annotations

from contracts import codec
from contracts.policy import RecoveryPolicy
from contracts.recovery import Dispatch, RecoveryDecided
from contracts.taxonomy import FailureClass
from recovery.decide import decide
from recovery.graph_cache import Recent, sharing_graphs
from recovery.projection import Projection
from services.recovery.tests.builders import (
    T0,
    backend,
    classified,
    dispatched,
    failed,
    inventory,
    rng,
    sd15,
    submitted,
)


def test_recent_keeps_the_most_recently_used_values_only() -> None:
    recent = Recent[int](2)
    assert recent.get(b"a", lambda: 1) == 1 and recent.get(b"b", lambda: 2) == 2
    assert recent.get(b"a", lambda: 0) == 1  # a is now the most recently used
    assert recent.get(b"c", lambda: 3) == 3  # drops b
    assert recent.get(b"a", lambda: 0) == 1
    assert recent.get(b"b", lambda: 9) == 9


def decided(p: Projection, job_id: str) -> RecoveryDecided:
    """The decision for a backend error of a fresh job in `p`, folded in as read back from
    the stream (decoded: its graphs are its own copies, as at a replay)."""
    failure = classified(FailureClass.BACKEND_ERROR, job_id=job_id)
    for event in (submitted(job_id, sd15()), dispatched(job_id), failed(job_id), failure):
        p.apply(event)
    farm = inventory(backend("gpu-a"), backend("gpu-b"))
    made = decide(p.get(job_id), failure, RecoveryPolicy(), farm, T0, rng()).to_event("t")
    event = codec.decode(codec.encode(made))
    assert isinstance(event, RecoveryDecided)
    p.apply(event)
    return event


def graphs_of(event: RecoveryDecided) -> list[dict[str, object]]:
    return [w for a in event.actions if isinstance(a, Dispatch) for w in a.workflows]


def test_decisions_are_kept_equal_with_their_identical_graphs_held_once() -> None:
    p = Projection()
    sent_a, sent_b = decided(p, "a"), decided(p, "b")
    (kept_a,) = p.get("a").decisions.values()
    (kept_b,) = p.get("b").decisions.values()
    assert kept_a == sent_a and kept_b == sent_b
    assert graphs_of(sent_a) and graphs_of(sent_a)[0] is not graphs_of(sent_b)[0]
    assert graphs_of(kept_a)[0] is graphs_of(kept_b)[0]


def test_a_decision_that_dispatches_nothing_is_kept_as_it_is() -> None:
    p = Projection()
    event = decided(p, "c")
    abort = RecoveryDecided(
        event_id="c:abort",
        job_id="c",
        occurred_at=T0,
        source="t",
        answers_event_id="c:x",
        strategy=event.strategy,
    )
    assert sharing_graphs(abort) is abort
