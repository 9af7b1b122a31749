"""Validating a submitted prompt the way ComfyUI's validate_prompt does, logs included."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from comfysim import validation_errors as err
from comfysim.catalogue import Catalogue
from comfysim.input_checks import InputChecker

log = logging.getLogger("comfysim.server")


@dataclass
class Verdict:
    """The outcome: accepted or not, the top-level error, the outputs to run, per-node errors."""

    ok: bool
    error: err.Error | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


def _title(node: dict[str, Any], default: Any) -> Any:
    meta = node.get("_meta")
    return meta.get("title", default) if isinstance(meta, dict) else default


def _find_outputs(
    prompt: dict[str, Any],
    catalogue: Catalogue,
    targets: Collection[str] | None,
    unknown: Collection[str],
) -> tuple[list[str], err.Error | None]:
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if "class_type" not in node:
            return [], err.missing_class_type(node_id, _title(node, f"ID #{node_id}"))
        class_type = node["class_type"]
        if class_type not in catalogue or class_type in unknown:
            return [], err.missing_class(node_id, class_type, _title(node, class_type))
        if catalogue.is_output(class_type) and (targets is None or node_id in targets):
            outputs.append(node_id)
    return outputs, None


def _log_failure(output_id: str, own: list[err.Error], new_nodes: dict[str, Any]) -> None:
    log.error("Failed to validate prompt for output %s:", output_id)
    if own:
        log.error("* (prompt):")
        for reason in own:
            log.error("  - %s: %s", reason["message"], reason["details"])
    for node_id, entry in new_nodes.items():
        log.error("* %s %s:", entry["class_type"], node_id)
        for reason in entry["errors"]:
            log.error("  - %s: %s", reason["message"], reason["details"])
    log.error("Output will be ignored")


def validate_prompt(
    prompt: Any,
    catalogue: Catalogue,
    input_exists: Callable[[str], bool],
    targets: Collection[str] | None = None,
    unknown: Collection[str] = (),
) -> Verdict:
    """Validate a prompt; raises (→ HTTP 500) where ComfyUI itself would crash on bad JSON types."""
    if not isinstance(prompt, dict):
        raise AttributeError(f"'{type(prompt).__name__}' object has no attribute 'items'")
    for node in prompt.values():
        if not isinstance(node, dict):
            raise AttributeError(f"'{type(node).__name__}' object has no attribute 'get'")
    outputs, error = _find_outputs(prompt, catalogue, targets, unknown)
    if error is not None:
        return Verdict(False, error)
    if not outputs:
        return Verdict(False, err.no_outputs())
    checker = InputChecker(prompt, catalogue, input_exists)
    good: list[str] = []
    own_errors: list[err.Error] = []
    node_errors: dict[str, Any] = {}
    for output_id in outputs:
        valid, own = checker.check_output(output_id)
        if valid:
            good.append(output_id)
            continue
        own_errors.extend(own)
        new_nodes = _collect_node_errors(checker, prompt, node_errors, output_id)
        _log_failure(output_id, own, new_nodes)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for e in own_errors)
        return Verdict(False, err.outputs_failed(details), [], node_errors)
    return Verdict(True, None, good, node_errors)


def _collect_node_errors(
    checker: InputChecker, prompt: dict[str, Any], node_errors: dict[str, Any], output_id: str
) -> dict[str, Any]:
    """Add every failed node to node_errors with this output as a dependent; return the new ones."""
    new_nodes: dict[str, Any] = {}
    for node_id, (valid, reasons) in checker.validated.items():
        if valid or not reasons:
            continue
        if node_id not in node_errors:
            entry = {
                "errors": reasons,
                "dependent_outputs": [],
                "class_type": prompt[node_id]["class_type"],
            }
            node_errors[node_id] = new_nodes[node_id] = entry
        node_errors[node_id]["dependent_outputs"].append(output_id)
    return new_nodes
