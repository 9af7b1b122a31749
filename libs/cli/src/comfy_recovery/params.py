"""Command-line ``--param`` parsing: ``node.input=value`` writes straight into the graph."""

from __future__ import annotations

import json
from typing import Any

from contracts.job import Binding


class ParamError(ValueError):
    """A ``--param`` is malformed or names a node that is not in the workflow."""


def parse_value(text: str) -> Any:
    """JSON when it parses (numbers, booleans, lists), otherwise the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(
    items: list[str], workflow: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Binding]]:
    """Params and their bindings from ``NODE.INPUT=VALUE`` (or ``NAME=VALUE``) items.

    Raises:
        ParamError: an item has no ``=``, or ``NODE.INPUT`` names a node not in the workflow.
    """
    params: dict[str, Any] = {}
    bindings: dict[str, Binding] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ParamError(f"--param {item!r}: expected NODE.INPUT=VALUE")
        node, dot, input_name = name.partition(".")
        if dot:
            if node not in workflow:
                raise ParamError(f"--param {item!r}: node {node} is not in the workflow")
            bindings[name] = Binding(node, input_name)
        params[name] = parse_value(raw)
    return params, bindings
