"""``decide``: the pure recovery decision for one classified failure.

No I/O, no clock, no randomness of its own: the state, the failure, the policy, the
backend inventory, the time and the random generator are all arguments, so the same
inputs always give the same decision (and its id is derived from the failure's).

Order of the rules:

1. CANCELLED ends the job (terminal, ``cancelled``).
2. A class that cannot succeed without a human (``retryable`` false, TAXONOMY "no") is
   aborted on its first occurrence. "Per version" classes go on: they may only move to
   a backend running another ComfyUI version.
3. Past the deadline, out of attempts (``max_attempts`` dispatches, the first included)
   or out of recoveries for this class: abort.
4. Walk the class's chain (`recovery.chains`); the first step with uses left whose
   planner applies — whose delay ends before the deadline, and whose backend (when its
   inventory is known) has every node and model needed — is the decision.
5. Nothing applies with the backends usable now, but a step would apply if one were
   usable (all down, open or quarantined): WAIT — the plan is held until a backend can
   take it, bounded by ``max_wait_s`` and the deadline (`recovery.strategies.wait`).
6. Nothing applies: abort, with the class's message and steps.

An idle failure (``no_backend``: the attempt never reached a backend) uses no budget: the
same dispatch is decided again, now or as a wait, until the wait's bound.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

from contracts.failure import FailureClassified
from contracts.policy import RecoveryPolicy
from contracts.taxonomy import CLASS_INFO, FailureClass, Retryability
from recovery import budget
from recovery import policy as policies
from recovery.chains import CHAINS, Step
from recovery.decision import Decision
from recovery.inventory import Inventory
from recovery.job_state import JobState
from recovery.state_machine import is_idle
from recovery.strategies import dispatch, wait
from recovery.strategies.abort import abort
from recovery.strategies.context import Context, Plan, Tuning

DEFAULT_TUNING = Tuning()


def needs_decision(state: JobState, failure: FailureClassified) -> bool:
    """Idempotency guard: False when this failure already has its decision, or is stale
    (the job ended, or a later attempt was already decided)."""
    if failure.event_id in state.decisions or state.terminal:
        return False
    return failure.attempt > state.decided_attempt and failure.attempt >= state.attempt


def decide(
    state: JobState,
    failure: FailureClassified,
    policy: RecoveryPolicy,
    inventory: Inventory,
    now: datetime,
    rng: random.Random,
    tuning: Tuning = DEFAULT_TUNING,
) -> Decision:
    """The one decision for `failure` of the job in `state` (see the module rules)."""
    ctx = Context(state, failure, policy, inventory, now, rng, tuning)
    stop = _stop(ctx)
    if stop is not None:
        return abort(ctx, *stop)
    if is_idle(failure):
        return _build(ctx, None, wait.again(ctx))
    found = _walk(ctx)
    if found is None:
        # nothing applies with the backends usable now: would it with capacity? then wait
        found = _walk(replace(ctx, inventory=wait.optimistic(inventory)))
        if found is not None:
            if wait.expired(ctx):
                why = f"{failure.failure_class.value}: {_waited(ctx)}"
                return abort(ctx, why, wait.STEPS)
            found = (found[0], wait.waiting(ctx, found[1]))
    if found is None:
        missing = _missing_everywhere(ctx)
        if missing is not None:
            return abort(ctx, f"{failure.failure_class.value}: {missing[0]}", missing[1])
        return abort(ctx, f"{failure.failure_class.value}: no recovery applies any more")
    step, plan = found
    target = inventory.get(plan.backend_hint)
    if plan.wait_until is None and target is not None and not target.usable:
        plan = wait.waiting(ctx, plan)  # e.g. a retry on the backend that is out: wait for it
    return _build(ctx, step, plan)


def _walk(ctx: Context) -> tuple[Step, Plan] | None:
    """The first step of the class's chain with uses left whose plan applies. A prompt lost
    while it only waited in a queue (`budget.queued_loss`) is never left without a step:
    when the chain is used up it takes the last step that applies, whatever its uses."""
    chain = CHAINS.get(ctx.failure.failure_class, ())
    found = _first_applicable(ctx, chain, count_uses=True)
    if found is None and budget.queued_loss(ctx.state, ctx.failure.event_id):
        found = _first_applicable(ctx, tuple(reversed(chain)), count_uses=False)
    return found


def _first_applicable(
    ctx: Context, chain: tuple[Step, ...], count_uses: bool
) -> tuple[Step, Plan] | None:
    cls, state = ctx.failure.failure_class, ctx.state
    for step in chain:
        uses = budget.step_uses(state, cls, step.strategy)
        if count_uses and uses >= step.uses:
            continue
        plan = step.planner(replace(ctx, uses=uses))
        if plan is None or _too_late(ctx, plan):
            continue
        part = plan.part_size if plan.part_size is not None else state.part_size
        if not _runnable(ctx, plan, part):
            continue
        return step, plan
    return None


def _build(ctx: Context, step: Step | None, plan: Plan) -> Decision:
    state = ctx.state
    part = plan.part_size if plan.part_size is not None else state.part_size
    return dispatch.build(
        state,
        answers=ctx.failure.event_id,
        attempt=ctx.failure.attempt,
        now=ctx.now,
        strategy=step.strategy if step is not None else plan.strategies[0],
        plan=plan,
        part=part,
        failure_class=ctx.failure.failure_class,
    )


def _missing_everywhere(ctx: Context) -> tuple[str, tuple[str, ...]] | None:
    """What the job needs that no known backend has (None: nothing, or nothing known)."""
    known = [v for v in ctx.inventory.backends.values() if v.node_classes is not None]
    if not known:
        return None
    needs = ctx.needs()
    nodes = sorted(
        n for n in needs.node_classes if not any(n in (v.node_classes or ()) for v in known)
    )
    models = sorted(
        name for folder, name in needs.models if not any(v.has_model(folder, name) for v in known)
    )
    if not nodes and not models:
        return None
    what = [f"node class {n}" for n in nodes] + [f"model {m}" for m in models]
    steps = [f"Install the custom node providing {n} on a backend" for n in nodes]
    steps += [f"Put {m} on a backend, or allow a fallback model" for m in models]
    return f"no backend can run the job: {', '.join(what)} missing on every backend", tuple(steps)


def _waited(ctx: Context) -> str:
    return (
        f"no backend could take the job in time (waited since "
        f"{(ctx.state.waiting_since or ctx.now):%H:%M:%S}: {wait.unusable(ctx.inventory)})"
    )


def _stop(ctx: Context) -> tuple[str, tuple[str, ...]] | None:
    """Why the job must end before any strategy is tried (None: it may go on)."""
    cls = ctx.failure.failure_class
    if cls is FailureClass.CANCELLED:
        return "cancelled", ()
    retryability = CLASS_INFO[cls].retryability
    per_version = retryability is Retryability.PER_VERSION
    if retryability is Retryability.NO or not (ctx.failure.retryable or per_version):
        return f"{cls.value}: not retryable without a change by a human", ()
    deadline = policies.deadline(ctx.policy, ctx.state.submitted_at)
    if deadline is not None and ctx.now >= deadline:
        return f"{cls.value}: the job's deadline has passed", ("Raise the job's deadline",)
    if is_idle(ctx.failure):
        # an attempt no backend took: no budget used; only the wait's own bound applies
        return (_waited(ctx), wait.STEPS) if wait.expired(ctx) else None
    used = budget.attempts_used(ctx.state, ctx.failure.attempt)
    if used >= ctx.policy.max_attempts:
        why = f"{cls.value}: all {ctx.policy.max_attempts} attempts are used"
        return why, ("Raise max_attempts in the job's policy, or retry the job",)
    limit = policies.class_limit(ctx.policy, cls)
    queued = budget.queued_loss(ctx.state, ctx.failure.event_id)
    if budget.class_recoveries(ctx.state, cls) >= limit and not queued:
        return f"{cls.value}: recovered {limit} time(s) already, the limit for this class", ()
    return None


def _runnable(ctx: Context, plan: Plan, part: int | None) -> bool:
    """Whether the chosen backend, when its inventory is known, has every node and model
    the dispatched graphs need (a backend never reported may take a retry)."""
    view = ctx.inventory.get(plan.backend_hint)
    if view is None or view.node_classes is None:
        return True
    return view.can_run(ctx.needs(plan.workflow, part))


def _too_late(ctx: Context, plan: Plan) -> bool:
    """Whether the plan's delay would end after the job's deadline."""
    deadline = policies.deadline(ctx.policy, ctx.state.submitted_at)
    return deadline is not None and ctx.now + timedelta(seconds=plan.delay_s) >= deadline
