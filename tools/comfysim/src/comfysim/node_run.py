"""One node being executed: its inputs and shape, progress reporting, and the fault aimed at it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from comfysim import failures
from comfysim.catalogue import Catalogue
from comfysim.faults import ActiveFault, FaultBook, is_sampler
from comfysim.files import FileStore
from comfysim.inventory import BackendInventory
from comfysim.job_channel import JobChannel
from comfysim.memory import VAE_WEIGHTS, decode_need, sampler_need
from comfysim.process import ProcessState
from comfysim.spec import SimBackendSpec
from comfysim.tracebacks import SAMPLER_FRAMES, VAE_DECODE_FRAMES, generic_node_frames

GENERIC_NODE_TIME_S = 0.002
"""How long a node without progress takes."""


@dataclass
class RunServices:
    """What executing a prompt needs from its backend."""

    spec: SimBackendSpec
    catalogue: Catalogue
    files: FileStore
    inventory: BackendInventory
    faults: FaultBook
    proc: ProcessState
    crash: Callable[[float], None]


class NodeRun:
    """The node now executing, as its behaviour sees it."""

    def __init__(
        self,
        services: RunServices,
        channel: JobChannel,
        node: dict[str, Any],
        node_id: str,
        shape: dict[str, Any],
        fault: ActiveFault | None,
    ) -> None:
        self.services = services
        self.channel = channel
        self.node_id = node_id
        self.class_type: str = node["class_type"]
        self.inputs: dict[str, Any] = node["inputs"]
        self.shape = shape
        self.fault = fault

    @property
    def proc(self) -> ProcessState:
        """The process state (GPU, interrupt flag, sockets)."""
        return self.services.proc

    @property
    def on_gpu(self) -> bool:
        """Whether the backend computes on a CUDA device (the VRAM model applies)."""
        return self.services.spec.device_type == "cuda"

    def dims(self) -> tuple[int, int, int]:
        """(width, height, batch) of the data this node works on."""
        return (
            self.shape.get("width", 512),
            self.shape.get("height", 512),
            self.shape.get("batch", 1),
        )

    async def pause(self, seconds: float = GENERIC_NODE_TIME_S) -> None:
        """Spend time computing."""
        await asyncio.sleep(seconds)

    async def progress(self, value: int, total: int, image: bytes | None = None) -> None:
        """The progress hook: raise if interrupted, else report progress."""
        if self.proc.interrupt.is_set():
            raise failures.Interrupted()
        self.channel.progressed(self.node_id, value, total, image)

    def fault_step(self, steps: int) -> int | None:
        """Before which sampler step the aimed fault fires (None: no fault here)."""
        if self.fault is None:
            return None
        default = 1 if self.fault.spec.kind == "stall" else steps // 2 + 1
        return max(1, min(steps, int(self.fault.spec.params.get("at_step", default))))

    async def fire_fault(self) -> None:
        """Make the aimed fault happen (it raises, except ws_drop which lets the node go on)."""
        assert self.fault is not None
        spec = self.fault.spec
        self.services.faults.fire(
            self.fault, prompt_id=self.channel.prompt_id, node_id=self.node_id
        )
        self.fault = None
        if spec.kind == "stall":
            await self.proc.interrupt.wait()
            raise failures.Interrupted()
        if spec.kind == "crash":
            self.services.crash(float(spec.params.get("down_s", 1.0)))
            await asyncio.Event().wait()
        if spec.kind == "ws_drop":
            self.proc.hub.drop_all()
            return
        if spec.kind == "interrupt":
            self.proc.interrupt.set()
            raise failures.Interrupted()
        raise self._fault_failure(spec.kind, spec.params)

    def _fault_failure(self, kind: str, params: dict[str, Any]) -> failures.NodeFailure:
        width, height, batch = self.dims()
        if kind == "disk_full":
            return failures.disk_full()
        if kind == "corrupt_model":
            return failures.corrupt_model()
        if kind == "device_fault":
            return failures.device_fault()
        if kind == "host_oom":
            requested = int(params.get("bytes", max(batch * width * height * 12, 2**30)))
            return failures.host_oom(requested, generic_node_frames(self.class_type))
        if kind == "oom":
            resident, extra = self._gpu_need()
            frames = SAMPLER_FRAMES if is_sampler(self.class_type) else VAE_DECODE_FRAMES
            return failures.gpu_oom(self.proc.gpu.forced_report(resident, extra), frames)
        return failures.node_error(self.class_type, params)

    def _gpu_need(self) -> tuple[int, int]:
        width, height, batch = self.dims()
        if is_sampler(self.class_type):
            return sampler_need(self.shape.get("model"), width, height, batch)
        if self.class_type.startswith("VAEDecode"):
            return VAE_WEIGHTS, decode_need(width, height, None)
        return 0, batch * width * height * 12
