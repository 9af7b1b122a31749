"""The node classes a backend offers, with schemas from the real v0.33 /object_info."""

from __future__ import annotations

import copy
import functools
import gzip
import json
from pathlib import Path
from typing import Any, Final, Protocol

from comfysim.model_folders import EXTRA_CHOICES, INPUT_FOLDER, folder_for_input
from comfysim.spec import SimBackendSpec

OBJECT_INFO_PATH: Final = Path(__file__).parent / "data" / "object_info.v0.33.0.json.gz"
"""The full /object_info of a real ComfyUI v0.33.0 server (887 classes)."""

_OUTPUT_WORDS: Final = ("Save", "Preview", "Combine", "Output")


class Inventory(Protocol):
    """What a backend has on disk: the files of each folder."""

    def files(self, folder: str) -> list[str]:
        """The sorted file names of a folder (empty for unknown folders)."""
        ...


@functools.cache
def real_object_info() -> dict[str, Any]:
    """The captured /object_info (read once per process; never mutate it)."""
    with gzip.open(OBJECT_INFO_PATH, "rt", encoding="utf-8") as fh:
        info: dict[str, Any] = json.load(fh)
    return info


def generic_schema(name: str) -> dict[str, Any]:
    """A permissive schema for a custom node class: no declared inputs, one `*` output."""
    return {
        "input": {"required": {}, "optional": {}},
        "input_order": {"required": [], "optional": []},
        "is_input_list": False,
        "output": ["*"],
        "output_is_list": [False],
        "output_name": ["*"],
        "name": name,
        "display_name": name,
        "description": "Custom node (simulated with a permissive schema).",
        "python_module": f"custom_nodes.{name}",
        "category": "custom",
        "output_node": any(word in name for word in _OUTPUT_WORDS),
        "has_intermediate_output": False,
        "search_aliases": [],
    }


def _choices_replaced(spec: list[Any], choices: list[str]) -> list[Any]:
    """An input spec with its choice list swapped for `choices` (both spec shapes)."""
    if spec and spec[0] == "COMBO":
        options = dict(spec[1]) if len(spec) > 1 else {}
        options["options"] = list(choices)
        return ["COMBO", options, *spec[2:]]
    return [list(choices), *spec[1:]]


class Catalogue:
    """The node classes of one backend and their input/output schemas."""

    def __init__(self, spec: SimBackendSpec, inventory: Inventory) -> None:
        real = real_object_info()
        wanted = list(real) if spec.node_classes is None else list(spec.node_classes)
        excluded = set(spec.exclude_nodes)
        self._schemas: dict[str, dict[str, Any]] = {
            name: real.get(name) or generic_schema(name) for name in wanted if name not in excluded
        }
        for name in spec.extra_nodes:
            self._schemas.setdefault(name, generic_schema(name))
        self._inventory = inventory
        self._file_inputs = {name: self._find_file_inputs(name) for name in self._schemas}

    def __contains__(self, class_type: object) -> bool:
        return isinstance(class_type, str) and class_type in self._schemas

    def names(self) -> list[str]:
        """All class names, in object_info order."""
        return list(self._schemas)

    def is_output(self, class_type: str) -> bool:
        """Whether the class is an output node (OUTPUT_NODE)."""
        return bool(self._schemas[class_type].get("output_node"))

    def outputs(self, class_type: str) -> tuple[Any, ...]:
        """The RETURN_TYPES of a class, as a tuple like ComfyUI's."""
        return tuple(self._schemas[class_type].get("output", []))

    def declared_inputs(self, class_type: str) -> list[tuple[str, str]]:
        """(name, category) of the required then optional inputs, in schema order."""
        inputs = self._schemas[class_type]["input"]
        return [(name, cat) for cat in ("required", "optional") for name in inputs.get(cat, {})]

    def hidden_inputs(self, class_type: str) -> dict[str, str]:
        """Hidden input name → kind (PROMPT, EXTRA_PNGINFO, UNIQUE_ID, ...)."""
        hidden = self._schemas[class_type]["input"].get("hidden", {})
        return {name: kind[0] if isinstance(kind, list) else kind for name, kind in hidden.items()}

    def file_inputs(self, class_type: str) -> dict[str, str]:
        """Input name → folder, for the inputs that choose a file."""
        return self._file_inputs.get(class_type, {})

    def model_values(self, class_type: str, inputs: dict[str, Any]) -> list[str]:
        """The model file names a node of this class loads, given its inputs."""
        folders = self._file_inputs.get(class_type, {})
        if not isinstance(inputs, dict):
            return []
        return [
            value
            for name, folder in folders.items()
            if folder != INPUT_FOLDER and isinstance(value := inputs.get(name), str)
        ]

    def input_info(self, class_type: str, name: str) -> tuple[Any, str, dict[str, Any]] | None:
        """(type, category, options) of an input with live file choices, or None if undeclared."""
        inputs = self._schemas[class_type]["input"]
        for category in ("required", "optional"):
            spec = inputs.get(category, {}).get(name)
            if spec is not None:
                spec = self._live_spec(class_type, name, spec)
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                return spec[0], category, options
        return None

    def export(self, names: list[str] | None = None) -> dict[str, Any]:
        """The /object_info answer for `names` (all classes when None), file lists filled in."""
        chosen = self.names() if names is None else [n for n in names if n in self]
        return {name: self._export_one(name) for name in chosen}

    def _export_one(self, name: str) -> dict[str, Any]:
        schema = self._schemas[name]
        if not self._file_inputs.get(name):
            return schema
        patched = copy.deepcopy(schema)
        for category in ("required", "optional"):
            specs = patched["input"].get(category, {})
            for input_name, spec in specs.items():
                specs[input_name] = self._live_spec(name, input_name, spec)
        return patched

    def _live_spec(self, class_type: str, name: str, spec: list[Any]) -> list[Any]:
        folder = self._file_inputs.get(class_type, {}).get(name)
        if folder is None:
            return spec
        choices = self._inventory.files(folder) + EXTRA_CHOICES.get(folder, [])
        return _choices_replaced(spec, choices)

    def _find_file_inputs(self, class_type: str) -> dict[str, str]:
        found: dict[str, str] = {}
        inputs = self._schemas[class_type]["input"]
        for category in ("required", "optional"):
            for name, spec in inputs.get(category, {}).items():
                folder = folder_for_input(class_type, name)
                if (
                    folder is not None
                    and spec
                    and (isinstance(spec[0], list) or spec[0] == "COMBO")
                ):
                    found[name] = folder
        return found
