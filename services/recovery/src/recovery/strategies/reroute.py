"""REROUTE: the same job on another backend that is usable and has every node and model.

Variants for classes that are deterministic on one backend: another ComfyUI version
(MODEL_INCOMPATIBLE, DEPENDENCY_MISSING) or another device type (BACKEND_UNSUPPORTED).
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.taxonomy import Strategy
from recovery import budget
from recovery.inventory import BackendView
from recovery.strategies.context import Context, Plan


def _to(ctx: Context, target: BackendView, what: str, **extra: str | None) -> Plan:
    return Plan(
        (Strategy.REROUTE,),
        f"{ctx.failure.failure_class}: rerouted to {what}",
        backend_hint=target.backend_id,
        exclude=ctx.avoid(),
        require_version_other_than=extra.get("version"),
        require_device_other_than=extra.get("device"),
    )


def _first(ctx: Context, accept: Callable[[BackendView], bool] | None = None) -> BackendView | None:
    found = ctx.elsewhere(accept=accept)
    return found[0] if found else None


def elsewhere(ctx: Context) -> Plan | None:
    """Any other usable backend that can run the job."""
    target = _first(ctx)
    return None if target is None else _to(ctx, target, "another backend that can run the job")


def other_version(ctx: Context) -> Plan | None:
    """A backend running a ComfyUI version this class has not failed on yet."""
    current = _version(ctx)
    if current is None:
        return None
    failed = budget.versions_failed(ctx.state, ctx.failure.failure_class) | {current}

    def differs(view: BackendView) -> bool:
        return view.comfyui_version is not None and view.comfyui_version not in failed

    target = _first(ctx, differs)
    if target is None:
        return None
    return _to(ctx, target, f"a backend running ComfyUI {target.comfyui_version}", version=current)


def other_device(ctx: Context) -> Plan | None:
    """A backend of another type (device type or GPU model) than the one that failed."""
    here = ctx.backend
    kind = (
        _str(ctx.features.get("device_type")) or (here.device_type if here else None),
        here.device_name if here else None,
    )
    if kind == (None, None):
        return None

    def differs(view: BackendView) -> bool:
        return view.device_type is not None and (view.device_type, view.device_name) != kind

    target = _first(ctx, differs)
    if target is None:
        return None
    device = kind[0] if target.device_type != kind[0] else None
    return _to(ctx, target, f"a backend of another type ({target.device_type})", device=device)


def _version(ctx: Context) -> str | None:
    evidence = ctx.failure.evidence
    here = ctx.backend
    return (
        _str(ctx.features.get("comfyui_version"))
        or (evidence.comfyui_version if evidence else None)
        or (here.comfyui_version if here else None)
    )


def _str(value: object) -> str | None:
    return str(value) if value is not None and value != "" else None
