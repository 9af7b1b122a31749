"""Running one queued prompt: cache hits, node order, faults, the outcome message and history."""

from __future__ import annotations

import logging
import time
from typing import Any

from comfysim import failures
from comfysim.behaviours import run_node
from comfysim.faults import NODE_KINDS, FaultPlan, node_targets, prompt_matches
from comfysim.graph import ExecutionOrder, links, signatures
from comfysim.job_channel import JobChannel, now_ms
from comfysim.node_run import NodeRun, RunServices
from comfysim.process import CachedNode
from comfysim.prompt_queue import QueueItem
from comfysim.shapes import infer_shapes

log = logging.getLogger("comfysim.server")


class PromptRun:
    """One execution of a queued prompt, ending with its history entry written."""

    def __init__(self, services: RunServices, item: QueueItem) -> None:
        self.services = services
        self.item = item
        self.prompt = item.prompt
        self.channel = JobChannel(services.proc, item.prompt_id, item.client_id)
        self.executed: list[str] = []
        self.ui: dict[str, dict[str, Any]] = {}
        self.current: str | None = None

    async def execute(self) -> None:
        """Run the prompt to success, error or interruption, then record it."""
        started = time.monotonic()
        proc = self.services.proc
        proc.interrupt.clear()
        pid = self.item.prompt_id
        self.channel.record("execution_start", {"prompt_id": pid, "timestamp": now_ms()})
        self.keys = signatures(self.prompt, self._salt)
        cached = [n for n in self.prompt if self.keys[n] in proc.cache]
        self.channel.record(
            "execution_cached", {"nodes": cached, "prompt_id": pid, "timestamp": now_ms()}
        )
        outcome = await self._run_nodes(set(cached))
        self._write_history(outcome)
        log.info("Prompt executed in %.2f seconds", time.monotonic() - started)

    async def _run_nodes(self, cached: set[str]) -> str:
        order = ExecutionOrder(self.prompt, self._is_output, cached)
        for output_id in self.item.outputs:
            order.add(output_id)
        shapes = infer_shapes(self.prompt, self.services.inventory.image_size)
        plan = self._fault_plan([n for n in order.scheduled() if n not in cached])
        try:
            while (node_id := order.next()) is not None:
                self.current = node_id
                if node_id in cached:
                    self._replay_cached(node_id)
                else:
                    await self._run_one(node_id, shapes[node_id], plan)
                order.complete(node_id)
        except failures.Interrupted:
            return self._interrupted()
        except failures.NodeFailure as failure:
            return self._failed(failure, shapes)
        self.channel.record(
            "execution_success", {"prompt_id": self.item.prompt_id, "timestamp": now_ms()}
        )
        return "success"

    async def _run_one(self, node_id: str, shape: dict[str, Any], plan: FaultPlan) -> None:
        self.channel.started(node_id)
        self.channel.executing(node_id)
        if self.services.proc.interrupt.is_set():
            raise failures.Interrupted()
        node = NodeRun(
            self.services,
            self.channel,
            self.prompt[node_id],
            node_id,
            shape,
            plan.fault_for(node_id),
        )
        ui = await run_node(node)
        if ui:
            self.channel.executed(node_id, ui)
            self.ui[node_id] = ui
        self.channel.finished(node_id)
        self.executed.append(node_id)
        cache = self.services.proc.cache
        cache[self.keys[node_id]] = CachedNode(ui)
        used = set(self.keys.values())
        for key in [k for k in cache if k not in used]:
            del cache[key]

    def _replay_cached(self, node_id: str) -> None:
        ui = self.services.proc.cache[self.keys[node_id]].ui
        if ui:
            self.channel.executed(node_id, ui)
            self.ui[node_id] = ui
        self.channel.finished(node_id)

    def _interrupted(self) -> str:
        log.info("Processing interrupted")
        node_id = self.current or ""
        data = {
            "prompt_id": self.item.prompt_id,
            "node_id": node_id,
            "node_type": self.prompt.get(node_id, {}).get("class_type"),
            "executed": list(self.executed),
            "timestamp": now_ms(),
        }
        self.channel.record("execution_interrupted", data, broadcast=True)
        return "error"

    def _failed(self, failure: failures.NodeFailure, shapes: dict[str, dict[str, Any]]) -> str:
        node_id = self.current or ""
        log.error("!!! Exception during processing !!! %s", failure.message)
        if failure.oom is not None:
            log.error("Got an OOM, unloading all loaded models.")
            self.services.proc.gpu.after_oom(failure.oom.requested)
        data = {
            "prompt_id": self.item.prompt_id,
            "node_id": node_id,
            "node_type": self.prompt[node_id]["class_type"],
            "executed": list(self.executed),
            "exception_message": failure.exception_message(),
            "exception_type": failure.exception_type,
            "traceback": failure.traceback,
            "current_inputs": self._current_inputs(node_id, shapes),
            "current_outputs": list(self.prompt),
            "timestamp": now_ms(),
        }
        self.channel.record("execution_error", data)
        return "error"

    def _current_inputs(
        self, node_id: str, shapes: dict[str, dict[str, Any]]
    ) -> dict[str, list[Any]]:
        node = self.prompt[node_id]
        catalogue = self.services.catalogue
        formatted = {name: [failures.format_literal(v)] for name, v in node["inputs"].items()}
        for name, source, slot in links(node):
            outputs = catalogue.outputs(self.prompt[source]["class_type"])
            output_type = outputs[slot] if slot < len(outputs) else "*"
            formatted[name] = [failures.format_linked(output_type, shapes.get(source, {}))]
        hidden_values = {
            "PROMPT": str(self.prompt),
            "EXTRA_PNGINFO": self.item.extra_data.get("extra_pnginfo"),
        }
        for name, kind in catalogue.hidden_inputs(node["class_type"]).items():
            if kind in hidden_values:
                formatted[name] = [failures.format_literal(hidden_values[kind])]
        return formatted

    def _write_history(self, status_str: str) -> None:
        proc = self.services.proc
        meta = {
            n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n}
            for n in self.ui
        }
        entry = {
            "prompt": self.item.as_list(),
            "outputs": dict(self.ui),
            "status": {
                "status_str": status_str,
                "completed": status_str == "success",
                "messages": self.channel.history_messages,
            },
            "meta": meta,
        }
        proc.queue.finish(entry)
        proc.broadcast_status()
        self.channel.executing(None)

    def _is_output(self, node_id: str) -> bool:
        return self.services.catalogue.is_output(self.prompt[node_id]["class_type"])

    def _salt(self, node_id: str, node: dict[str, Any]) -> Any:
        class_type = node.get("class_type")
        if class_type == "SaveImageWebsocket":
            return time.time_ns()
        if class_type in ("LoadImage", "LoadImageMask"):
            return self.services.files.sha256("input", str(node.get("inputs", {}).get("image", "")))
        return None

    def _fault_plan(self, to_run: list[str]) -> FaultPlan:
        plan = FaultPlan()
        models = self.services.catalogue.model_values
        for fault in self.services.faults.of_kind(*NODE_KINDS):
            if not prompt_matches(fault.spec.match, self.item.prompt_id, self.prompt, models):
                continue
            targets = node_targets(fault, to_run, self.prompt, self._is_output, models)
            if targets:
                plan.targets.append((fault, targets))
        return plan
