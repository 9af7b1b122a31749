"""The error objects POST /prompt returns, worded exactly as ComfyUI v0.33 words them."""

from __future__ import annotations

from typing import Any

from comfysim.tracebacks import VALIDATE_FRAMES, format_frames

Error = dict[str, Any]


def _error(type_: str, message: str, details: str, extra_info: dict[str, Any]) -> Error:
    return {"type": type_, "message": message, "details": details, "extra_info": extra_info}


def no_prompt() -> Error:
    """The body had no `prompt` key."""
    return _error("no_prompt", "No prompt provided", "No prompt provided", {})


def invalid_prompt_id() -> Error:
    """A client prompt_id that is not a canonical lowercase UUID."""
    return _error(
        "invalid_prompt_id",
        "prompt_id must be a valid UUID",
        "prompt_id must be a UUID string in canonical lowercase hyphenated form; "
        "omit it to let the server generate one",
        {},
    )


def missing_class(node_id: str, class_type: Any, title: Any) -> Error:
    """A node whose class is not installed on this server."""
    return _error(
        "missing_node_type",
        f"Node '{title}' not found. The custom node may not be installed.",
        f"Node ID '#{node_id}'",
        {"node_id": node_id, "class_type": class_type, "node_title": title},
    )


def missing_class_type(node_id: str, title: Any) -> Error:
    """A node without a `class_type` key."""
    return _error(
        "missing_node_type",
        f"Node '{title}' has no class_type. "
        "The workflow may be corrupted or a custom node is missing.",
        f"Node ID '#{node_id}'",
        {"node_id": node_id, "class_type": None, "node_title": title},
    )


def no_outputs() -> Error:
    """No output node in the graph."""
    return _error("prompt_no_outputs", "Prompt has no outputs", "", {})


def outputs_failed(details: str) -> Error:
    """Every output failed validation."""
    return _error(
        "prompt_outputs_failed_validation", "Prompt outputs failed validation", details, {}
    )


def required_missing(name: str) -> Error:
    """A required input is absent."""
    return _error("required_input_missing", "Required input is missing", name, {"input_name": name})


def bad_link(name: str, config: list[Any], value: Any) -> Error:
    """A link that is not a [node_id, slot] pair."""
    return _error(
        "bad_linked_input",
        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
        name,
        {"input_name": name, "input_config": config, "received_value": value},
    )


def type_mismatch(name: str, config: list[Any], received: Any, link: list[Any]) -> Error:
    """A link whose source output type does not fit the input."""
    return _error(
        "return_type_mismatch",
        "Return type mismatch between linked nodes",
        f"{name}, received_type({received}) mismatch input_type({config[0]})",
        {
            "input_name": name,
            "input_config": config,
            "received_type": received,
            "linked_node": link,
        },
    )


def not_convertible(name: str, config: list[Any], value: Any, exc: Exception) -> Error:
    """A literal that int()/float() refused."""
    return _error(
        "invalid_input_type",
        f"Failed to convert an input value to a {config[0]} value",
        f"{name}, {value}, {exc}",
        {
            "input_name": name,
            "input_config": config,
            "received_value": value,
            "exception_message": str(exc),
        },
    )


def _out_of_range(
    kind: str, words: str, bound: str, name: str, config: list[Any], value: Any
) -> Error:
    return _error(
        kind,
        f"Value {value} {words} {bound} of {config[1][bound]}",
        name,
        {"input_name": name, "input_config": config, "received_value": value},
    )


def below_min(name: str, config: list[Any], value: Any) -> Error:
    """A number below the input's min."""
    return _out_of_range("value_smaller_than_min", "smaller than", "min", name, config, value)


def above_max(name: str, config: list[Any], value: Any) -> Error:
    """A number above the input's max."""
    return _out_of_range("value_bigger_than_max", "bigger than", "max", name, config, value)


def not_in_list(name: str, config: list[Any], value: Any, options: list[Any]) -> Error:
    """A choice not offered; lists over 20 entries are summarised and the config dropped."""
    if len(options) > 20:
        listed, shown_config = f"(list of length {len(options)})", None
    else:
        listed, shown_config = str(options), config
    return _error(
        "value_not_in_list",
        "Value not in list",
        f"{name}: '{value}' not in {listed}",
        {"input_name": name, "input_config": shown_config, "received_value": value},
    )


def custom_failed(name: str, reason: Any) -> Error:
    """A node's own VALIDATE_INPUTS said no."""
    details = name if reason is False else f"{name} - {reason}"
    return _error(
        "custom_validation_failed",
        "Custom validation failed for node",
        details,
        {"input_name": name},
    )


def dependency_cycle(node_id: str, cycle: list[str], prompt: dict[str, Any]) -> Error:
    """A node that is part of a link cycle."""
    path = [*cycle, cycle[0]]
    details = " -> ".join(f"{n} ({prompt[n]['class_type']})" for n in path)
    return _error(
        "dependency_cycle",
        "Dependency cycle detected",
        details,
        {"node_id": node_id, "cycle_nodes": list(cycle)},
    )


def exception_type_name(exc: BaseException) -> str:
    """ComfyUI's full_type_name: module plus qualname, `builtins` dropped."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def during_validation(exc: Exception) -> Error:
    """An exception raised while validating an output node's inputs."""
    return _error(
        "exception_during_validation",
        "Exception when validating node",
        str(exc),
        {"exception_type": exception_type_name(exc), "traceback": format_frames(VALIDATE_FRAMES)},
    )


def during_inner_validation(name: str, config: list[Any], exc: Exception, link: Any) -> Error:
    """An exception raised while validating a linked upstream node."""
    return _error(
        "exception_during_inner_validation",
        "Exception when validating inner node",
        str(exc),
        {
            "input_name": name,
            "input_config": config,
            "exception_message": str(exc),
            "exception_type": exception_type_name(exc),
            "traceback": format_frames(VALIDATE_FRAMES),
            "linked_node": link,
        },
    )
