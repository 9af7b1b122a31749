"""Checking a node's inputs against its schema, recursively through links (validate_inputs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from comfysim import validation_errors as err
from comfysim.catalogue import Catalogue

Result = tuple[bool, list[err.Error]]

_CUSTOM_VALIDATED: Final = {"LoadImage": "image", "LoadImageMask": "image"}
"""Classes whose VALIDATE_INPUTS checks an input itself (skipping the list check)."""

_COERCE: Final[dict[str, Callable[[Any], Any]]] = {
    "INT": int,
    "FLOAT": float,
    "STRING": str,
    "BOOLEAN": bool,
}


def types_compatible(received: Any, expected: Any) -> bool:
    """ComfyUI's validate_node_input: equal, or comma-separated sets that overlap, or `*`."""
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return "*" in got or "*" in want or bool(got & want)


def _choices(input_type: Any, options: dict[str, Any]) -> list[Any] | None:
    if isinstance(input_type, list):
        return input_type
    if input_type == "COMBO":
        return list(options.get("options", []))
    return None


def check_literal(
    name: str, input_type: Any, options: dict[str, Any], value: Any
) -> tuple[Any, err.Error | None]:
    """Coerce a literal like ComfyUI, then range/list-check it: (coerced value, error or None)."""
    config = [input_type, options]
    if isinstance(value, dict) and "__value__" in value:
        value = value["__value__"]
    convert = _COERCE.get(input_type) if isinstance(input_type, str) else None
    if convert is not None:
        try:
            value = convert(value)
        except Exception as exc:
            return value, err.not_convertible(name, config, value, exc)
    if "min" in options and value < options["min"]:
        return value, err.below_min(name, config, value)
    if "max" in options and value > options["max"]:
        return value, err.above_max(name, config, value)
    choices = _choices(input_type, options)
    if choices is not None and value not in choices:
        return value, err.not_in_list(name, config, value, choices)
    return value, None


class InputChecker:
    """Validates nodes of one prompt, memoising results in `validated` like ComfyUI does."""

    def __init__(
        self, prompt: dict[str, Any], catalogue: Catalogue, input_exists: Callable[[str], bool]
    ) -> None:
        self.prompt = prompt
        self.catalogue = catalogue
        self.input_exists = input_exists
        self.validated: dict[str, Result] = {}

    def check_output(self, node_id: str) -> Result:
        """Validate an output node and everything upstream of it."""
        self._mark_cycles(node_id)
        try:
            return self.check(node_id)
        except Exception as exc:
            result: Result = (False, [err.during_validation(exc)])
            self.validated[node_id] = result
            return result

    def check(self, node_id: str) -> Result:
        """Validate one node (its own inputs, then recursively its linked sources)."""
        if node_id in self.validated:
            return self.validated[node_id]
        node = self.prompt[node_id]
        inputs, class_type = node["inputs"], node["class_type"]
        custom = _CUSTOM_VALIDATED.get(class_type)
        errors: list[err.Error] = []
        valid = True
        for name, category in self.catalogue.declared_inputs(class_type):
            info = self.catalogue.input_info(class_type, name)
            assert info is not None
            input_type, _, options = info
            if name not in inputs:
                if category == "required":
                    errors.append(err.required_missing(name))
                continue
            value = inputs[name]
            if isinstance(value, list):
                valid = self._check_link(name, [input_type, options], value, errors) and valid
            elif name != custom:
                inputs[name], error = check_literal(name, input_type, options, value)
                if error is not None:
                    errors.append(error)
        if custom is not None and custom in inputs and not isinstance(inputs[custom], list):
            errors.extend(self._custom_errors(custom, inputs[custom]))
        result: Result = (not errors and valid, errors)
        self.validated[node_id] = result
        return result

    def _check_link(
        self, name: str, config: list[Any], link: list[Any], errors: list[err.Error]
    ) -> bool:
        if len(link) != 2:
            errors.append(err.bad_link(name, config, link))
            return True
        source_id, slot = link
        source_class = self.prompt[source_id]["class_type"]
        received = self.catalogue.outputs(source_class)[slot]
        if not types_compatible(received, config[0]):
            errors.append(err.type_mismatch(name, config, received, link))
            return True
        try:
            return self.check(source_id)[0]
        except Exception as exc:
            self.validated[source_id] = (
                False,
                [err.during_inner_validation(name, config, exc, link)],
            )
            return False

    def _custom_errors(self, name: str, value: Any) -> list[err.Error]:
        if self.input_exists(str(value)):
            return []
        return [err.custom_failed(name, f"Invalid image file: {value}")]

    def _mark_cycles(self, output_id: str) -> None:
        cycle = self._find_cycle(output_id, [], set())
        if not cycle:
            return
        for node_id in cycle:
            self.validated.setdefault(
                node_id, (False, [err.dependency_cycle(node_id, cycle, self.prompt)])
            )

    def _find_cycle(self, node_id: str, path: list[str], done: set[str]) -> list[str]:
        if node_id in path:
            return path[path.index(node_id) :]
        if node_id in done or not isinstance(self.prompt.get(node_id), dict):
            return []
        path.append(node_id)
        for source in _link_sources(self.prompt[node_id]):
            cycle = self._find_cycle(source, path, done)
            if cycle:
                return cycle
        path.pop()
        done.add(node_id)
        return []


def _link_sources(node: dict[str, Any]) -> list[str]:
    inputs = node.get("inputs")
    if not isinstance(inputs, dict):
        return []
    return [
        v[0]
        for v in inputs.values()
        if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)
    ]
