"""A job's recovery history (`contracts.readmodel.RecoveryStep`), step by step."""

from __future__ import annotations

from typing import Final

from msgspec.structs import replace

from contracts.readmodel import RecoveryStep
from contracts.recovery import RecoveryDecided
from contracts.taxonomy import Strategy

_ENDINGS: Final = frozenset({Strategy.ABORT.value, Strategy.CANCEL.value})
"""Steps that end the job: their outcome is known when they are taken."""


def history_step(e: RecoveryDecided, attempt: int, backend: str | None) -> RecoveryStep:
    """The history entry of a decision that launched (or ended) `attempt`."""
    return RecoveryStep(
        attempt=attempt,
        failure_class=e.failure_class.value if e.failure_class else None,
        strategy=e.strategy.value,
        changes=list(e.changes),
        reason=e.reason,
        backend_id=backend,
        at=e.occurred_at,
    )


def close_last_step(
    history: tuple[RecoveryStep, ...], success: bool, attempt: int
) -> tuple[RecoveryStep, ...]:
    """Mark the last recovery a success or a failure once its attempt's outcome is known."""
    if not history:
        return history
    last = history[-1]
    if last.success is not None or last.strategy in _ENDINGS or attempt < last.attempt:
        return history
    return (*history[:-1], replace(last, success=success))
