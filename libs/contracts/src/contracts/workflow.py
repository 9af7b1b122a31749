"""Up-front checks of an API-format ComfyUI graph, naming the node and input at fault."""

from __future__ import annotations

from typing import Any

from contracts.errors import PermanentError


class InvalidWorkflowError(PermanentError):
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
