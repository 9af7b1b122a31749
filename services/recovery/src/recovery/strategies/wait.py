"""WAIT: no backend can take the job right now (all down, open or quarantined).

Not having capacity now is not a failure. The job waits durably — the decision is a
`Dispatch` with ``wait_until``, which the submitter holds until a backend can take it —
bounded by the policy's ``max_wait_s`` (counted from when the wait began) and the
deadline. Waiting uses no attempt: an attempt that never reached a backend (``no_backend``)
is idle, and so is the decision answering it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from contracts.backend import BreakerState
from contracts.recovery import Dispatch
from contracts.taxonomy import Strategy
from recovery import policy as policies
from recovery.inventory import BackendView, Inventory
from recovery.strategies.context import Context, Plan

SKEW: Final = timedelta(seconds=1)
"""Clock difference tolerated between the submitter (which ends a wait) and us."""
STEPS: Final = (
    "Bring a backend back (see `comfy-recovery backends`)",
    "Raise max_wait_s or the deadline in the job's policy",
)


def bound(ctx: Context) -> datetime:
    """Until when the job may wait: ``max_wait_s`` after the wait began, or the deadline."""
    start = ctx.state.waiting_since or ctx.now
    until = start + timedelta(seconds=ctx.policy.max_wait_s)
    deadline = policies.deadline(ctx.policy, ctx.state.submitted_at)
    return until if deadline is None else min(until, deadline)


def expired(ctx: Context) -> bool:
    """Whether the job has waited as long as it may."""
    return ctx.now + SKEW >= bound(ctx)


def optimistic(inventory: Inventory) -> Inventory:
    """The backends as if every one were usable (what a plan would be with capacity)."""
    return Inventory.of(
        replace(
            view,
            breaker=BreakerState.CLOSED,
            reachable=None if view.reachable is None else True,
            half_open_at=None,
        )
        for view in inventory.backends.values()
    )


def unusable(inventory: Inventory) -> str:
    """Why each known backend cannot take work now (``b0: breaker open until …``)."""
    reasons = [_why(view) for view in inventory.backends.values() if not view.usable]
    return "; ".join(reasons) or "no backend known"


def _why(view: BackendView) -> str:
    if view.breaker is BreakerState.OPEN:
        until = f" until {view.half_open_at:%H:%M:%S}" if view.half_open_at else ""
        return f"{view.backend_id}: breaker open{until}"
    return f"{view.backend_id}: unreachable"


def waiting(ctx: Context, plan: Plan) -> Plan:
    """`plan`, held until a backend can take it (at most until `bound`)."""
    until = bound(ctx)
    why = unusable(ctx.inventory)
    return replace(
        plan,
        wait_until=until,
        reason=f"waiting for a usable backend until {until:%H:%M:%S} ({why}); then {plan.reason}",
    )


def previous(ctx: Context) -> Dispatch | None:
    """The dispatch decided for the failed attempt (None: it was the first one)."""
    for decision in ctx.state.decisions.values():
        for action in decision.actions:
            if isinstance(action, Dispatch) and action.attempt == ctx.failure.attempt:
                return action
    return None


def again(ctx: Context) -> Plan:
    """An attempt no backend could take: the same dispatch again, held by the submitter
    until a backend can take it (at once if one can)."""
    before = previous(ctx)
    exclude = tuple(sorted(set(before.exclude_backends if before else ()) | ctx.excluded))
    version = before.require_version_other_than if before else None
    device = before.require_device_other_than if before else None

    def fits(view: BackendView) -> bool:
        return (version is None or view.comfyui_version != version) and (
            device is None or view.device_type != device
        )

    found = ctx.inventory.candidates(ctx.needs(), exclude, fits)
    hint = before.backend_hint if before else None
    if found and not any(v.backend_id == hint for v in found):
        hint = found[0].backend_id
    plan = Plan(
        (Strategy.RETRY,),
        "no backend could take the attempt; dispatch it as soon as one can",
        backend_hint=hint,
        exclude=exclude,
        require_version_other_than=version,
        require_device_other_than=device,
        resume=before.resume if before else False,
    )
    # held even when a backend looks usable here: the submitter, which saw none, dispatches
    # it the moment it agrees (a decision it would refuse again would only bounce)
    return waiting(ctx, plan)
