"""RE_UPLOAD_INPUT: put the job's input assets back on the backend, then run again."""

from __future__ import annotations

from collections.abc import Iterator

from contracts.recovery import UploadInput
from contracts.taxonomy import Strategy
from recovery.strategies.context import Context, Plan


def _mentioned(ctx: Context) -> Iterator[str]:
    """Every text the failure carries that may name a file."""
    yield from (str(v) for v in ctx.features.values() if isinstance(v, str))
    evidence = ctx.failure.evidence
    if evidence is not None:
        yield evidence.message
        yield from (e.details for e in evidence.node_errors)
        yield from (str(e.received_value) for e in evidence.node_errors if e.received_value)


def reupload(ctx: Context) -> Plan | None:
    """Upload the missing inputs (all held ones when the failure does not say which)."""
    held = ctx.state.inputs
    if not held or not ctx.same_backend_ok:
        return None
    texts = list(_mentioned(ctx))
    named = tuple(name for name in held if any(name in text for text in texts))
    chosen = named or held
    return Plan(
        (Strategy.RE_UPLOAD_INPUT, Strategy.RETRY),
        f"INPUT_MISSING: upload {len(chosen)} input(s) again, then run again",
        actions=tuple(UploadInput(name=name) for name in chosen),
        backend_hint=ctx.backend_id,
    )
