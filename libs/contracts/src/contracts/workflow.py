"""Up-front checks of an API-format ComfyUI graph, naming the node and input at fault."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contracts.errors import SubmitRefusedError
from contracts.job import Binding

PAYLOAD_SHARE: Final = 8
"""A submission may use 1/8 of the bus's largest message. Everything derived from it must
fit too: a decision carries the graph once per prompt part, recovery's per-job state holds
the original and the current graph, and analytics' row holds the payload."""


class InvalidWorkflowError(SubmitRefusedError):
    """The workflow is not a valid API-format graph; ``node``/``input`` name the culprit."""

    error_code = "INVALID_WORKFLOW"

    def __init__(self, message: str, node: str | None = None, input: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.input = input


def validate_workflow(workflow: Any) -> dict[str, Any]:
    """Check the shape ComfyUI's POST /prompt expects, before anything is sent.

    Catches what would otherwise fail late or with a bare HTTP 500: a UI-format export,
    a node without ``class_type``, inputs that are not an object, links to missing nodes
    or malformed links.

    Returns:
        The workflow, unchanged.

    Raises:
        InvalidWorkflowError: with the node id and input name when one is at fault.
    """
    if not isinstance(workflow, dict) or not workflow:
        raise InvalidWorkflowError("workflow must be a non-empty JSON object of nodes")
    if "nodes" in workflow and "links" in workflow:
        raise InvalidWorkflowError(
            "this is a UI-format workflow; export it with 'Save (API Format)' instead"
        )
    for node_id, node in workflow.items():
        _check_node(workflow, str(node_id), node)
    return workflow


def _check_node(workflow: dict[str, Any], node_id: str, node: Any) -> None:
    if not isinstance(node, dict):
        raise InvalidWorkflowError(f"node {node_id} is not an object", node=node_id)
    class_type = node.get("class_type")
    if not isinstance(class_type, str) or not class_type:
        raise InvalidWorkflowError(f"node {node_id} has no class_type", node=node_id)
    inputs = node.get("inputs", {})
    if not isinstance(inputs, dict):
        raise InvalidWorkflowError(
            f"node {node_id} ({class_type}): inputs must be an object", node=node_id
        )
    for name, value in inputs.items():
        if isinstance(value, list):
            _check_link(workflow, node_id, class_type, str(name), value)


def _check_link(
    workflow: dict[str, Any], node_id: str, class_type: str, name: str, value: list[Any]
) -> None:
    where = f"node {node_id} ({class_type}) input '{name}'"
    if len(value) != 2 or not isinstance(value[1], int) or isinstance(value[1], bool):
        raise InvalidWorkflowError(
            f"{where}: a link must be [node_id, output_index]", node=node_id, input=name
        )
    if str(value[0]) not in workflow:
        raise InvalidWorkflowError(
            f"{where}: links to node {value[0]}, which is not in the workflow",
            node=node_id,
            input=name,
        )


class WorkflowTooLargeError(SubmitRefusedError):
    """The submission is larger than `submission_limit` allows (HTTP 413)."""

    error_code = "WORKFLOW_TOO_LARGE"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the submission is {size} bytes; the limit is {limit} bytes "
            f"(1/{PAYLOAD_SHARE} of the NATS max_payload, {limit * PAYLOAD_SHARE} bytes)"
        )
        self.size = size
        self.limit = limit


def submission_limit(max_payload: int) -> int:
    """The largest encoded submission (bytes) a bus with `max_payload` carries end to end."""
    return max_payload // PAYLOAD_SHARE


def check_size(size: int, limit: int) -> None:
    """Refuse a submission of `size` bytes over `limit`.

    Raises:
        WorkflowTooLargeError: naming both numbers.
    """
    if size > limit:
        raise WorkflowTooLargeError(size, limit)


def resolve_bindings(
    workflow: Mapping[str, Any], params: Mapping[str, Any], bindings: Mapping[str, Binding]
) -> dict[str, Binding]:
    """Where every parameter goes; the one check of ``params`` and ``bindings``.

    A parameter with a binding goes there. A parameter named ``NODE.INPUT`` (``"5.width"``)
    without one is bound to that node's input. Anything else would be silently ignored,
    so it is refused; so is a binding to a node that is not in the workflow or to an
    input the node does not have.

    Returns:
        A binding for every parameter (the explicit ones included).

    Raises:
        InvalidWorkflowError: naming the parameter, node and input at fault.
    """
    resolved: dict[str, Binding] = {}
    for name in params:
        binding = bindings.get(name)
        if binding is None:
            node, dot, input_name = name.partition(".")
            if not dot or not node or not input_name:
                raise InvalidWorkflowError(
                    f"parameter '{name}' has no binding: name it NODE.INPUT (e.g. '5.width') "
                    "or give a binding {node, input}"
                )
            binding = Binding(node, input_name)
        _check_binding(workflow, name, binding)
        resolved[name] = binding
    for name, binding in bindings.items():
        if name not in resolved:
            _check_binding(workflow, name, binding)
            resolved[name] = binding
    return resolved


def _check_binding(workflow: Mapping[str, Any], name: str, binding: Binding) -> None:
    node = workflow.get(binding.node)
    if not isinstance(node, dict):
        raise InvalidWorkflowError(
            f"parameter '{name}' is bound to node {binding.node}, which is not in the workflow",
            node=binding.node,
            input=binding.input,
        )
    inputs = node.get("inputs") or {}
    if binding.input not in inputs:
        known = ", ".join(sorted(map(str, inputs))) or "none"
        raise InvalidWorkflowError(
            f"parameter '{name}' is bound to node {binding.node} ({node.get('class_type')}) "
            f"input '{binding.input}', which that node does not have (its inputs: {known})",
            node=binding.node,
            input=binding.input,
        )


def apply_params(
    workflow: dict[str, Any], params: dict[str, Any], bindings: dict[str, Any]
) -> dict[str, Any]:
    """A copy of `workflow` with each bound parameter written into its node input.

    `bindings` maps a parameter name to an object with ``node`` and ``input`` (a
    `contracts.job.Binding`); parameters without a binding are left to the caller.

    Raises:
        InvalidWorkflowError: a binding names a node that is not in the workflow.
    """
    result = {
        node_id: {**node, "inputs": dict(node.get("inputs", {}))}
        for node_id, node in workflow.items()
    }
    for name, value in params.items():
        binding = bindings.get(name)
        if binding is None:
            continue
        if binding.node not in result:
            raise InvalidWorkflowError(
                f"parameter '{name}' is bound to node {binding.node}, which is not in the workflow",
                node=binding.node,
                input=binding.input,
            )
        result[binding.node]["inputs"][binding.input] = value
    return result
