"""The ``submit`` policy flags, checked by the same rules as the HTTP API's policy body."""

from __future__ import annotations

import argparse
from typing import Any

import pydantic

from contracts import RecoveryPolicy
from submitter.api.schemas import PolicyBody

FLAGS = {
    "max_attempts": "--max-attempts",
    "deadline_s": "--deadline",
    "allow_degradation": "--allow-degradation",
    "fallback_models": "--fallback",
}


class PolicyError(ValueError):
    """A policy flag the system would refuse (the API answers 422 for the same value)."""


def parse_fallbacks(items: list[str]) -> dict[str, list[str]]:
    """``MODEL=ALT1,ALT2`` items as model → ordered alternatives."""
    fallbacks: dict[str, list[str]] = {}
    for item in items:
        model, sep, alternatives = item.partition("=")
        names = [name.strip() for name in alternatives.split(",") if name.strip()]
        if not sep or not model.strip() or not names:
            raise PolicyError(f"--fallback {item!r}: expected MODEL=ALT1,ALT2")
        fallbacks[model.strip()] = names
    return fallbacks


def policy_from(args: argparse.Namespace) -> RecoveryPolicy | None:
    """A per-job policy from the submit flags (None: the live default policy).

    Raises:
        PolicyError: a flag is malformed or out of the range the API accepts.
    """
    fields: dict[str, Any] = {}
    if args.max_attempts is not None:
        fields["max_attempts"] = args.max_attempts
    if args.deadline is not None:
        fields["deadline_s"] = args.deadline
    if args.allow_degradation:
        fields["allow_degradation"] = True
    if args.fallback:
        fields["fallback_models"] = parse_fallbacks(args.fallback)
    if not fields:
        return None
    try:
        body = PolicyBody.model_validate(fields)
    except pydantic.ValidationError as exc:
        raise PolicyError("; ".join(_describe(error) for error in exc.errors())) from exc
    return RecoveryPolicy(**body.model_dump(exclude_none=True))


def _describe(error: Any) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    return f"{FLAGS.get(field, field)} {error.get('input')!r}: {error['msg'].lower()}"
