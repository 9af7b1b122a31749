"""RETRY: the same job again after an exponential backoff with jitter (a durable delay:
the decision carries an absolute ``not_before``, so it survives any restart)."""

from __future__ import annotations

import random

from contracts.taxonomy import Strategy
from recovery.strategies.context import Context, Plan


def backoff_delay(n: int, base: float, cap: float, jitter: float, rng: random.Random) -> float:
    """Seconds before retry number `n` (1-based): ``base * 2**(n-1)`` ±`jitter`, capped."""
    raw = min(cap, base * 2.0 ** max(n - 1, 0))
    return round(min(cap, raw * (1.0 + rng.uniform(-jitter, jitter))), 3)


def delay_for(ctx: Context) -> float:
    """The backoff of this step's next use."""
    t = ctx.tuning
    return backoff_delay(ctx.uses + 1, t.backoff_base_s, t.backoff_cap_s, t.jitter, ctx.rng)


def same_backend(ctx: Context) -> Plan | None:
    """Retry on the backend that failed, after the backoff (not while its breaker is open)."""
    if not ctx.same_backend_ok:
        return None
    delay = delay_for(ctx)
    return Plan(
        (Strategy.RETRY,),
        f"{ctx.failure.failure_class}: retry on the same backend in {delay:.1f}s",
        backend_hint=ctx.backend_id,
        delay_s=delay,
    )


def after_outage(ctx: Context) -> Plan | None:
    """Nothing else can take the job: wait for the failing backend to come back.

    The delay is the backoff, or longer when the backend's breaker is open: until it lets
    trial work through again. Steps of one strategy share a count, so the backoff keeps
    growing from the retries before.
    """
    view = ctx.backend
    if ctx.backend_id is None:
        return None
    delay = delay_for(ctx)
    if view is not None and view.half_open_at is not None:
        delay = max(delay, round((view.half_open_at - ctx.now).total_seconds(), 3))
    return Plan(
        (Strategy.RETRY,),
        f"{ctx.failure.failure_class}: no other backend can take the job; "
        f"retry on the same one in {delay:.1f}s",
        backend_hint=ctx.backend_id,
        delay_s=delay,
    )


def anywhere(ctx: Context) -> Plan | None:
    """Retry after the backoff, on the same backend if it may take work, else the best other.

    For failures of a service a node called: the backend itself was healthy.
    """
    if ctx.same_backend_ok:
        return same_backend(ctx)
    others = ctx.elsewhere()
    if not others:
        return None
    delay = delay_for(ctx)
    return Plan(
        (Strategy.RETRY,),
        f"{ctx.failure.failure_class}: retry in {delay:.1f}s on another backend",
        backend_hint=others[0].backend_id,
        delay_s=delay,
    )
