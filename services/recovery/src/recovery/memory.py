"""The VRAM model: how much a job needed when it ran out, and how much of it fits a GPU.

From an out-of-memory error's own numbers:

- ``peak = allocated + requested`` — what the process held plus what it asked for when
  it failed (``total - free`` stands in for ``allocated`` when only those are known; with
  neither, the peak is the request alone, a lower bound).
- capacity of the failing GPU once VRAM is freed = ``min(total * usable_fraction,
  free + what torch held)`` when free, allocated and reserved are all reported (torch's
  memory comes back, other processes' and the CUDA context's does not). Without them the
  unaccounted memory is taken for torch's fragmented cache (ComfyUI #9830), so
  ``total * usable_fraction``. Other GPUs: ``vram_total * usable_fraction``.
- budget = capacity * (1 - margin).
- the peak splits into a part that does not scale with the work (weights, context) and a
  part that scales with batch x pixels (activations, latents, decode buffers). The fixed
  part is ``fixed_share`` of the peak, but never so much that the failed request (itself
  an activation) would not scale.

`work_fraction` is then the share of the current per-prompt work that fits the budget,
in one step: ``(budget - fixed) / (peak - fixed)``. Steps do not change the peak, so
memory never lowers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from recovery.features import number

GIB: Final = 1024**3


def _bytes(value: Any) -> int | None:
    parsed = number(value)
    return int(parsed) if parsed is not None and parsed >= 0 else None


@dataclass(frozen=True, slots=True)
class OomReport:
    """The numbers an out-of-memory error carried (None: not reported)."""

    requested: int | None = None
    total: int | None = None
    allocated: int | None = None
    free: int | None = None
    reserved: int | None = None

    @classmethod
    def from_features(cls, features: Mapping[str, Any]) -> OomReport:
        """Read the classifier's ``*_bytes`` features."""
        return cls(
            requested=_bytes(features.get("requested_bytes")),
            total=_bytes(features.get("total_bytes")),
            allocated=_bytes(features.get("allocated_bytes")),
            free=_bytes(features.get("free_bytes")),
            reserved=_bytes(features.get("reserved_bytes")),
        )

    @property
    def peak(self) -> int | None:
        """Bytes the job needed at the failure (None without a request size)."""
        if self.requested is None:
            return None
        if self.allocated is not None:
            return self.allocated + self.requested
        if self.total is not None and self.free is not None:
            return max(self.total - self.free, 0) + self.requested
        return self.requested

    def capacity_after_free(self, usable_fraction: float) -> int | None:
        """VRAM this process can use on the failing GPU once it is freed."""
        if self.total is None:
            return None
        usable = int(self.total * usable_fraction)
        if self.free is None or self.allocated is None or self.reserved is None:
            return usable
        # PyTorch reports either the total it reserved (>= allocated) or only the part
        # reserved but unallocated; either way, what torch held comes back after /free.
        held = self.reserved if self.reserved >= self.allocated else self.allocated + self.reserved
        return min(usable, self.free + held)


@dataclass(frozen=True, slots=True)
class MemoryModel:
    """Tuning of the fit: safety margin, usable share of a GPU, fixed share of the peak."""

    margin: float = 0.15
    usable_fraction: float = 0.95
    fixed_share: float = 0.5
    blind_fraction: float = 0.5

    def budget(self, capacity: int) -> int:
        """Bytes a job may plan to use on a GPU of `capacity`."""
        return int(capacity * (1.0 - self.margin))

    def capacity(self, vram_total: int | None) -> int | None:
        """Usable bytes of a GPU known only by its total."""
        return None if vram_total is None else int(vram_total * self.usable_fraction)

    def fits(self, peak: int, capacity: int) -> bool:
        """Whether `peak` fits `capacity` with the margin."""
        return peak <= self.budget(capacity)

    def work_fraction(self, report: OomReport, capacity: int) -> float | None:
        """The share of the current work that fits `capacity` (1.0: all of it).

        None when even no work at all would fit (the fixed part alone is too big).
        """
        peak = report.peak
        if peak is None:
            return None
        budget = self.budget(capacity)
        if peak <= budget:
            return 1.0
        fixed = min(peak * self.fixed_share, float(peak - (report.requested or 0)))
        room = budget - fixed
        return room / (peak - fixed) if room > 0 else None


def gib(value: int | None) -> str:
    """Bytes as a short GiB text for reasons and messages."""
    return "?" if value is None else f"{value / GIB:.1f} GiB"
