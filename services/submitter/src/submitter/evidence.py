"""Turn ComfyUI's answers to POST /prompt into failure evidence (pure)."""

from __future__ import annotations

from typing import Any, Final

from contracts.job import FailureEvidence, NodeError
from submitter.adapters.comfy import PromptReply

MAX_BODY: Final = 64_000


def node_errors_of(node_errors: Any) -> list[NodeError]:
    """Every error of every node in a /prompt ``node_errors`` mapping."""
    found: list[NodeError] = []
    if not isinstance(node_errors, dict):
        return found
    for node_id, entry in node_errors.items():
        if not isinstance(entry, dict):
            continue
        for error in entry.get("errors") or []:
            found.append(_node_error(str(node_id), entry, error))
    return found


def _node_error(node_id: str, entry: dict[str, Any], error: Any) -> NodeError:
    error = error if isinstance(error, dict) else {}
    extra = error.get("extra_info") or {}
    return NodeError(
        node_id=node_id,
        class_type=entry.get("class_type"),
        type=str(error.get("type", "")),
        message=str(error.get("message", "")),
        details=str(error.get("details", "")),
        input_name=extra.get("input_name"),
        received_value=extra.get("received_value"),
        input_config=extra.get("input_config"),
        dependent_outputs=[str(o) for o in entry.get("dependent_outputs") or []],
    )


def rejected(reply: PromptReply) -> FailureEvidence | None:
    """Evidence when the reply refused the prompt, in whole or in part; None if accepted."""
    if reply.status == 200 and isinstance(reply.json, dict):
        errors = node_errors_of(reply.json.get("node_errors"))
        if not errors:
            return None
        return _validation(reply, errors, observation="partial_accept")
    if 400 <= reply.status < 500 and isinstance(reply.json, dict):
        return _validation(reply, node_errors_of(reply.json.get("node_errors")))
    return http_error(reply.status, reply.body)


def http_error(status: int, body: str) -> FailureEvidence:
    """Evidence of an HTTP reply that is neither success nor a validation answer."""
    return FailureEvidence(
        surface="http",
        http_status=status,
        body=body[:MAX_BODY],
        message=(body.strip().splitlines() or [f"HTTP {status}"])[0][:500],
    )


def _validation(
    reply: PromptReply, errors: list[NodeError], observation: str | None = None
) -> FailureEvidence:
    raw_top = reply.json.get("error") if isinstance(reply.json, dict) else None
    top: dict[str, Any] = raw_top if isinstance(raw_top, dict) else {}
    first = errors[0] if errors else None
    raw_extra = top.get("extra_info")
    extra: dict[str, Any] = raw_extra if isinstance(raw_extra, dict) else {}
    return FailureEvidence(
        surface="validation",
        http_status=reply.status,
        body=reply.body[:MAX_BODY],
        message=str(top.get("message") or (first.message if first else "")),
        validation_type=(first.type if first else None) or top.get("type"),
        node_errors=errors,
        node_id=(first.node_id if first else None) or extra.get("node_id"),
        node_type=(first.class_type if first else None) or extra.get("class_type"),
        observation=observation,
    )


def unreachable(exception_type: str, message: str) -> FailureEvidence:
    """Evidence of a transport failure of our own client."""
    return FailureEvidence(surface="client", exception_type=exception_type, message=message)
