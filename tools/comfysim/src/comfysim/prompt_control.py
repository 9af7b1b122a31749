"""What the HTTP routes ask of a backend: validate (with its faults), interrupt, cancel, free."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from comfysim.catalogue import Catalogue
from comfysim.faults import ActiveFault, FaultBook, prompt_matches
from comfysim.inventory import BackendInventory
from comfysim.process import ProcessState
from comfysim.validation import Verdict, validate_prompt

log = logging.getLogger("comfysim.server")


def _nodes(prompt: Any) -> list[dict[str, Any]]:
    if not isinstance(prompt, dict):
        return []
    return [
        n for n in prompt.values() if isinstance(n, dict) and isinstance(n.get("inputs", {}), dict)
    ]


class PromptControl:
    """Mixin of SimBackend: the prompt-facing operations and their counters."""

    proc: ProcessState
    faults: FaultBook
    catalogue: Catalogue
    inventory: BackendInventory

    def __init__(self) -> None:
        self.accepted = 0
        self.interrupts: list[dict[str, Any]] = []
        self.free_calls: list[dict[str, bool]] = []
        self._hidden_now: set[str] = set()

    def validate(self, prompt_id: str, prompt: Any, targets: Collection[str] | None) -> Verdict:
        """validate_prompt, with missing_node / missing_model faults applied to this prompt."""
        unknown = self._fire_missing_nodes(prompt_id, prompt)
        self._hidden_now = self._fire_missing_models(prompt_id, prompt)
        try:
            return validate_prompt(
                prompt, self.catalogue, self.inventory.input_exists, targets, unknown
            )
        finally:
            self._hidden_now = set()

    def hidden_models(self) -> set[str]:
        """Model files missing right now (armed missing_model faults with a selector)."""
        hidden = set(self._hidden_now)
        for fault in self.faults.of_kind("missing_model"):
            selected = self._selected_models(fault)
            if selected is not None:
                hidden |= selected
        return hidden

    def visible_classes(self) -> list[str]:
        """Node classes /object_info lists (armed missing_node faults hide theirs)."""
        hidden = {self._selected_class(f) for f in self.faults.of_kind("missing_node")}
        return [name for name in self.catalogue.names() if name not in hidden]

    def interrupt(self, prompt_id: str | None, via: str) -> bool:
        """Global (prompt_id None) or targeted interrupt; whether the flag was set."""
        running = self.proc.queue.running
        self.interrupts.append(
            {
                "prompt_id": prompt_id or "global",
                "running_prompt_id": running.prompt_id if running else None,
                "via": via,
            }
        )
        if prompt_id is None:
            log.info("Global interrupt (no prompt_id specified)")
        elif running is not None and running.prompt_id == prompt_id:
            log.info("Interrupting prompt %s", prompt_id)
        else:
            log.info("Prompt %s is not currently running, skipping interrupt", prompt_id)
            return False
        self.proc.interrupt.set()
        return True

    def cancel(self, prompt_id: str) -> bool:
        """POST /api/jobs/{id}/cancel: interrupt if running, drop if pending."""
        running = self.proc.queue.running
        if running is not None and running.prompt_id == prompt_id:
            log.info("Cancelling running prompt %s", prompt_id)
            return self.interrupt(prompt_id, via="/api/jobs/cancel")
        if self.proc.queue.delete(prompt_id):
            log.info("Cancelling pending prompt %s", prompt_id)
            self.proc.broadcast_status()
            return True
        return False

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """POST /free: applied now when idle, else once the running job ends."""
        self.free_calls.append({"unload_models": unload_models, "free_memory": free_memory})
        flags = self.proc.pending_free
        flags["unload_models"] = flags.get("unload_models", False) or unload_models
        flags["free_memory"] = flags.get("free_memory", False) or free_memory
        if self.proc.queue.running is None:
            self.apply_free(self.proc)

    def apply_free(self, proc: ProcessState) -> None:
        """Unload models and reset fragmentation; free_memory also drops the node cache."""
        flags, proc.pending_free = proc.pending_free, {}
        if flags.get("unload_models") or flags.get("free_memory"):
            proc.gpu.free()
        if flags.get("free_memory"):
            proc.cache.clear()
            proc.preview_prefixes.clear()
            log.info("Using RAM pressure cache.")

    def _fire_missing_nodes(self, prompt_id: str, prompt: Any) -> set[str]:
        classes = [n.get("class_type") for n in _nodes(prompt)]
        unknown: set[str] = set()
        for fault in self.faults.of_kind("missing_node"):
            if not prompt_matches(
                fault.spec.match, prompt_id, _as_dict(prompt), self.catalogue.model_values
            ):
                continue
            wanted = self._selected_class(fault) or (classes[0] if classes else None)
            if wanted in classes:
                self.faults.fire(fault, prompt_id=prompt_id, class_type=wanted)
                unknown.add(str(wanted))
        return unknown

    def _fire_missing_models(self, prompt_id: str, prompt: Any) -> set[str]:
        referenced = [
            m
            for n in _nodes(prompt)
            for m in self.catalogue.model_values(str(n.get("class_type")), n.get("inputs", {}))
        ]
        hidden: set[str] = set()
        for fault in self.faults.of_kind("missing_model"):
            if not referenced or not prompt_matches(
                fault.spec.match, prompt_id, _as_dict(prompt), self.catalogue.model_values
            ):
                continue
            selected = self._selected_models(fault)
            hit = {referenced[0]} if selected is None else selected.intersection(referenced)
            if hit:
                self.faults.fire(fault, prompt_id=prompt_id, models=sorted(hit))
                hidden |= hit
        return hidden

    def _selected_models(self, fault: ActiveFault) -> set[str] | None:
        name = fault.spec.params.get("name")
        part = fault.spec.match.get("ckpt_contains")
        if name is None and part is None:
            return None
        return {
            m for m in self.inventory.all_models() if m == name or (part is not None and part in m)
        }

    @staticmethod
    def _selected_class(fault: ActiveFault) -> str | None:
        return fault.spec.params.get("class_type") or fault.spec.match.get("class_type")


def _as_dict(prompt: Any) -> dict[str, Any]:
    return prompt if isinstance(prompt, dict) else {}
