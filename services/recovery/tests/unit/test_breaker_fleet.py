"""The fleet-aware rule (Envoy's outlier detection): a breaker opens on its rate only for an
outlier, and never takes more than a share of the fleet out. Faults spread over every
backend alike (the jobs' own) take none out; one backend failing where the others succeed
is taken out."""

from __future__ import annotations

from contracts.backend import BreakerState
from contracts.taxonomy import FailureClass
from recovery.breaker import (
    Breaker,
    BreakerConfig,
    fleet_of,
    quarantine,
    record_failure,
    record_success,
)
from recovery.outliers import Fleet, may_eject

CFG = BreakerConfig(window_calls=10, window_s=60, min_calls=4, failure_rate=0.5)
S = BreakerState


def calls(backend: str, failed: int, ok: int, at: float = 1.0) -> Breaker:
    """A closed breaker holding `failed` failures and `ok` successes (no fleet rule)."""
    b = Breaker(backend)
    for i in range(ok):
        b = record_success(b, f"{backend}-ok{i}", at, CFG)
    for i in range(failed):
        b = record_failure(b, f"{backend}-f{i}", at, BreakerConfig(min_calls=100), "x")
    return b


def test_an_outlier_may_be_ejected_when_the_fleet_has_room() -> None:
    assert may_eject(1.0, Fleet(size=3, ejected=0, calls=10, failed=1), CFG)


def test_a_backend_failing_like_the_rest_of_the_fleet_is_not_an_outlier() -> None:
    assert not may_eject(0.6, Fleet(size=3, ejected=0, calls=10, failed=5), CFG)
    # exactly the margin above the others is enough
    assert may_eject(0.75, Fleet(size=3, ejected=0, calls=4, failed=2), CFG)


def test_no_calls_elsewhere_means_nothing_to_compare_with_so_the_rate_alone_decides() -> None:
    assert may_eject(0.5, Fleet(size=3, ejected=0, calls=0, failed=0), CFG)


def test_never_more_than_the_share_of_the_fleet_and_always_room_for_one() -> None:
    assert not may_eject(1.0, Fleet(size=3, ejected=1), CFG)  # 3 x 0.34 → 1 out at most
    assert may_eject(1.0, Fleet(size=6, ejected=1), CFG)  # 6 x 0.34 → 2
    assert not may_eject(1.0, Fleet(size=6, ejected=2), CFG)
    assert may_eject(1.0, Fleet(size=1, ejected=0), CFG)  # a fleet of one: itself


def test_fleet_of_counts_the_others_calls_in_window_and_the_ones_out() -> None:
    others = [
        calls("b", failed=2, ok=3, at=100.0),
        quarantine(Breaker("c"), "q", 100.0, "wedged", CFG),
        calls("a", failed=9, ok=0, at=100.0),  # itself: left out
    ]
    fleet = fleet_of(others, "a", 105.0, CFG)  # the quarantine (10 s) still holds
    assert fleet == Fleet(size=3, ejected=1, calls=5, failed=2)
    later = fleet_of(others, "a", 100.0 + 61, CFG)  # b's calls left the window; c is probing
    assert later == Fleet(size=3, ejected=0, calls=0, failed=0)


def _fail(b: Breaker, n: int, fleet: Fleet, tag: str = "x") -> Breaker:
    for i in range(n):
        b = record_failure(
            b, f"{b.backend_id}-{tag}{i}", 5.0, CFG, "boom", FailureClass.BACKEND_ERROR, fleet=fleet
        )
    return b


def test_faults_spread_over_every_backend_alike_open_no_breaker() -> None:
    like_me = Fleet(size=3, ejected=0, calls=8, failed=5)
    b = _fail(calls("a", failed=0, ok=3), 5, like_me)
    assert b.state is S.CLOSED and b.failures == 5


def test_one_backend_failing_where_the_others_succeed_is_opened() -> None:
    healthy = Fleet(size=3, ejected=0, calls=8, failed=0)
    assert _fail(Breaker("a"), 4, healthy).state is S.OPEN


def test_a_second_outlier_waits_while_the_first_is_out() -> None:
    one_out = Fleet(size=3, ejected=1, calls=4, failed=0)
    b = _fail(Breaker("a"), 6, one_out)
    assert b.state is S.CLOSED
    # once the first is back, the same rate opens it
    b = _fail(b, 1, Fleet(size=3, ejected=0, calls=4, failed=0), tag="later")
    assert b.state is S.OPEN


def test_without_a_fleet_the_backend_is_judged_alone() -> None:
    assert _fail(Breaker("a"), 4, Fleet(size=3, ejected=2)).state is S.CLOSED
    alone = Breaker("a")
    for i in range(4):
        alone = record_failure(alone, f"y{i}", 5.0, CFG, "", FailureClass.BACKEND_ERROR)
    assert alone.state is S.OPEN
