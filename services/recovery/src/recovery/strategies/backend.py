"""QUARANTINE_BACKEND: open a faulty backend's breaker and move the job elsewhere."""

from __future__ import annotations

from dataclasses import replace

from contracts.recovery import Action, QuarantineBackend
from contracts.taxonomy import FailureClass, Strategy
from recovery.strategies.context import Context, Plan
from recovery.strategies.resume import interrupts

RESTART_CLASSES = frozenset({FailureClass.BACKEND_WEDGED, FailureClass.STALLED})
"""Classes after which the backend should be restarted, not only avoided."""


def quarantine_actions(ctx: Context) -> tuple[Action, ...]:
    """Quarantine the failing backend (asking for a restart when it is wedged)."""
    if ctx.backend_id is None:
        return ()
    cls = ctx.failure.failure_class
    return (
        QuarantineBackend(
            backend_id=ctx.backend_id,
            reason=f"{cls.value} on this backend",
            restart_requested=cls in RESTART_CLASSES,
        ),
    )


def quarantine_reroute_resume(ctx: Context) -> Plan | None:
    """Quarantine a wedged backend (interrupting our stuck prompt); resubmit elsewhere."""
    stuck = (
        interrupts(ctx, "backend wedged")
        if ctx.failure.failure_class is FailureClass.STALLED
        else ()
    )
    strategies = (Strategy.QUARANTINE_BACKEND, Strategy.REROUTE, Strategy.RESUME)
    return _move(ctx, strategies, (*stuck, *quarantine_actions(ctx)))


def interrupt_and_reroute(ctx: Context) -> Plan | None:
    """A job stalled again: interrupt it and run it elsewhere, without quarantining the
    backend — one stuck workflow is the job's problem; the breaker counts a stall against
    the backend only when another job stalled there too."""
    strategies = (Strategy.INTERRUPT, Strategy.REROUTE)
    plan = _move(ctx, strategies, interrupts(ctx, "stalled again"))
    if plan is None:
        return None
    return replace(plan, reason=f"{ctx.failure.failure_class}: stalled again; moved elsewhere")


def _move(
    ctx: Context, strategies: tuple[Strategy, ...], actions: tuple[Action, ...]
) -> Plan | None:
    found = ctx.elsewhere()
    if not found:
        return None
    return Plan(
        strategies,
        f"{ctx.failure.failure_class}: backend quarantined; job moved to another backend",
        actions=actions,
        backend_hint=found[0].backend_id,
        exclude=ctx.avoid(),
    )
