"""The prompt graph at run time: links, cache signatures and ComfyUI's execution order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

Prompt = dict[str, Any]


def is_link(value: Any) -> bool:
    """Whether an input value is a `[source_node_id, output_index]` link."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    )


def links(node: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(input name, source node, output slot) of every link into a node."""
    inputs = node.get("inputs", {})
    return [(name, v[0], v[1]) for name, v in inputs.items() if is_link(v)]


def closure(prompt: Prompt, outputs: Iterable[str]) -> set[str]:
    """The output nodes and everything upstream of them."""
    seen: set[str] = set()
    stack = list(outputs)
    while stack:
        node_id = stack.pop()
        if node_id in seen or node_id not in prompt:
            continue
        seen.add(node_id)
        stack.extend(source for _, source, _ in links(prompt[node_id]))
    return seen


def signatures(prompt: Prompt, salt: Callable[[str, dict[str, Any]], Any]) -> dict[str, str]:
    """Cache key of every node: class, literal inputs, ancestors' keys, and a per-node salt.

    Node ids are not part of the key (as in ComfyUI), so identical sub-graphs share entries.
    """
    memo: dict[str, str] = {}

    def key(node_id: str, visiting: frozenset[str]) -> str:
        if node_id in memo:
            return memo[node_id]
        node = prompt.get(node_id)
        if not isinstance(node, dict) or node_id in visiting:
            return f"unresolved:{node_id}"
        parts: list[Any] = [node.get("class_type"), salt(node_id, node)]
        for name, value in sorted(node.get("inputs", {}).items()):
            if is_link(value):
                parts.append([name, key(value[0], visiting | {node_id}), value[1]])
            else:
                parts.append([name, value])
        digest = hashlib.sha256(
            json.dumps(parts, sort_keys=True, default=repr).encode()
        ).hexdigest()
        memo[node_id] = digest
        return digest

    return {node_id: key(node_id, frozenset()) for node_id in prompt}


class ExecutionOrder:
    """Which node runs next: ComfyUI's staging of ready nodes, output nodes first."""

    def __init__(self, prompt: Prompt, is_output: Callable[[str], bool], cached: set[str]) -> None:
        self._prompt = prompt
        self._is_output = is_output
        self._cached = cached
        self._pending: dict[str, None] = {}
        self._blocked_by: dict[str, int] = {}
        self._blocking: dict[str, dict[str, None]] = {}

    def add(self, output_id: str) -> None:
        """Schedule an output node and its uncached ancestors."""
        stack, edges = [output_id], []
        while stack:
            node_id = stack.pop()
            if node_id in self._pending:
                continue
            self._pending[node_id] = None
            self._blocked_by[node_id] = 0
            self._blocking[node_id] = {}
            for _, source, _ in links(self._prompt[node_id]):
                if source not in self._cached:
                    stack.append(source)
                edges.append((source, node_id))
        for source, target in edges:
            if source not in self._cached and target not in self._blocking[source]:
                self._blocking[source][target] = None
                self._blocked_by[target] += 1

    def scheduled(self) -> list[str]:
        """Every node still to run (or replay from the cache), in scheduling order."""
        return list(self._pending)

    def next(self) -> str | None:
        """The node to run now, or None when everything ran."""
        ready = [n for n in self._pending if self._blocked_by[n] == 0]
        if not ready:
            return None
        for node_id in ready:
            if self._is_output(node_id):
                return node_id
        for node_id in ready:
            if any(self._is_output(b) for b in self._blocking[node_id]):
                return node_id
        for node_id in ready:
            for blocked in self._blocking[node_id]:
                if any(self._is_output(b) for b in self._blocking[blocked]):
                    return node_id
        return ready[0]

    def complete(self, node_id: str) -> None:
        """Mark a node finished, unblocking the nodes that wait for it."""
        self._pending.pop(node_id, None)
        for target in self._blocking.pop(node_id, {}):
            self._blocked_by[target] -= 1
