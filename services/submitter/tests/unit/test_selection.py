"""Backend choice: capable, healthy, least loaded; hints and exclusions honoured."""

from __future__ import annotations

from collections import Counter

from submitter.adapters.registry import apply_entry
from submitter.selection import (
    BackendView,
    Constraints,
    choose_backend,
    only_full,
    required_models,
    why_none,
)

WF = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}},
}
NODES = frozenset({"CheckpointLoaderSimple", "SaveImage"})
NOW = 1_000_000.0


def view(ident: str, **kw: object) -> BackendView:
    base: dict[str, object] = {"node_classes": NODES, "models": frozenset({"sdxl.safetensors"})}
    base.update(kw)
    return BackendView(ident, **base)  # type: ignore[arg-type]


def test_least_queued_capable_backend_wins() -> None:
    chosen = choose_backend([view("a", queue=3), view("b", queue=1)], [WF], Constraints(), NOW)
    assert chosen is not None and chosen.id == "b"


def test_backend_without_the_node_or_model_is_skipped() -> None:
    views = [
        view("a", queue=0, node_classes=frozenset({"SaveImage"})),
        view("b", queue=0, models=frozenset()),
        view("c", queue=9),
    ]
    chosen = choose_backend(views, [WF], Constraints(), NOW)
    assert chosen is not None and chosen.id == "c"


def test_open_breaker_unreachable_and_excluded_are_never_chosen() -> None:
    views = [
        view("a", breaker="open", open_until=NOW + 1, breaker_reason="GPU_FAULT"),
        view("b", reachable=False),
        view("c"),
    ]
    assert choose_backend(views, [WF], Constraints(exclude=frozenset({"c"})), NOW) is None
    why = why_none(views, Constraints(exclude=frozenset({"c"})), NOW)
    assert why == "a: breaker open (GPU_FAULT); b: unreachable; c: excluded for this job"


def test_an_open_breaker_whose_time_is_up_takes_one_probe_at_a_time() -> None:
    a = view("a", breaker="open", open_until=NOW)
    assert a.breaker_at(NOW - 1) == "open" and a.breaker_at(NOW) == "half_open"
    assert choose_backend([a], [WF], Constraints(), NOW) is a
    a.dispatched(NOW)  # the probe
    assert choose_backend([a], [WF], Constraints(), NOW + 1) is None
    assert "a probe is running" in why_none([a], Constraints(), NOW + 1)
    assert choose_backend([a], [WF], Constraints(), NOW + 121) is a  # no verdict: probe again
    apply_entry(a, "breaker", b'{"state": "open", "open_until": 1000060.0}', NOW + 2)
    assert a.probe_at is None and choose_backend([a], [WF], Constraints(), NOW + 3) is None
    apply_entry(a, "breaker", b'{"state": "closed", "reason": "the probe succeeded"}', NOW + 4)
    assert choose_backend([a], [WF], Constraints(), NOW + 5) is a


def test_a_burst_spreads_evenly_over_equal_backends() -> None:
    views = [view("a"), view("b"), view("c")]
    chosen: Counter[str] = Counter()
    for i in range(30):
        now = NOW + i * 0.01  # a burst: no fresh queue reading arrives meanwhile
        target = choose_backend(views, [WF], Constraints(), now)
        assert target is not None
        target.dispatched(now)
        chosen[target.id] += 1
    assert all(abs(n - 10) <= 3 for n in chosen.values()) and sum(chosen.values()) == 30


def test_a_fresh_queue_reading_replaces_the_local_count() -> None:
    a = view("a")
    for i in range(4):
        a.dispatched(NOW + i)
    assert a.load(NOW + 5) == 4
    a.saw_queue(1, NOW + 5)  # the backend has finished three of them
    assert a.load(NOW + 6) == 1
    a.dispatched(NOW + 7)
    assert a.load(NOW + 8) == 2
    assert a.load(NOW + 100) == 1  # a count never reconciled expires


def test_hint_wins_when_capable_and_version_constraint_applies() -> None:
    views = [view("a", queue=0, version="0.33.0"), view("b", queue=5, version="0.32.0")]
    chosen = choose_backend(views, [WF], Constraints(hint="b"), NOW)
    assert chosen is not None and chosen.id == "b"
    chosen = choose_backend(views, [WF], Constraints(version_other_than="0.33.0"), NOW)
    assert chosen is not None and chosen.id == "b"


def test_when_nobody_is_known_capable_validation_on_a_live_backend_decides() -> None:
    views = [view("a", node_classes=frozenset()), view("b", node_classes=frozenset(), queue=2)]
    chosen = choose_backend(views, [WF], Constraints(), NOW)
    assert chosen is not None and chosen.id == "a"


def test_model_files_are_found_by_extension_only() -> None:
    wf = {"1": {"class_type": "X", "inputs": {"a": "x.ckpt", "b": "hello", "c": 3}}}
    assert required_models([wf]) == {"x.ckpt"}


def test_busy_backends_take_no_more_and_the_job_waits_with_us() -> None:
    views = [view("a", queue=2), view("b", queue=1), view("c", reachable=False)]
    limit = Constraints(max_queue=2)
    chosen = choose_backend(views, [WF], limit, NOW)
    assert chosen is not None and chosen.id == "b"
    chosen.dispatched(NOW)  # b now holds 2 as well
    assert choose_backend(views, [WF], limit, NOW) is None
    assert only_full(views, limit, NOW)  # up but busy: not an outage
    assert "a: busy (2 prompts queued or running)" in why_none(views, limit, NOW)
    views[0].saw_queue(0, NOW + 1)  # a finished its work
    chosen = choose_backend(views, [WF], limit, NOW + 1)
    assert chosen is not None and chosen.id == "a"


def test_no_limit_and_an_outage_are_not_busy() -> None:
    assert not only_full([view("a", queue=50)], Constraints(), NOW)
    assert not only_full([view("a", reachable=False)], Constraints(max_queue=2), NOW)
