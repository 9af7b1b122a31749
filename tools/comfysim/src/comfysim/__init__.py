"""A ComfyUI-compatible simulator with fault injection (test and demo harness only).

It speaks the real ComfyUI v0.33 HTTP and websocket API (see comfysim/data/API.md and the
captured payloads) and fails the way real backends fail. Services never import it.
"""

from comfysim.backend import SimBackend
from comfysim.cluster import SimCluster
from comfysim.spec import FAULT_KINDS, FaultSpec, SimBackendSpec

__all__ = ["FAULT_KINDS", "FaultSpec", "SimBackend", "SimBackendSpec", "SimCluster"]
