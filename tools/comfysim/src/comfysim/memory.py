"""The VRAM model: what a job needs, what is usable, and the OOM text PyTorch prints.

Formula (bytes; GiB = 2**30):

    family   = guessed from the checkpoint / diffusion-model name:
               "flux" → flux, "xl"/"pony"/"illustrious" → sdxl, "v1-5"/"sd15"/"1.5" → sd15,
               anything else → default
    weights  = sd15 2 GiB, sdxl 6.5 GiB, flux 12 GiB, default 4 GiB
    sampler  = weights + batch × width × height × per_pixel(family)
               per_pixel: sd15 3072, sdxl 2560, flux 3584, default 2560
               (SDXL: 1024² batch 1 needs 9 GiB, batch 8 26.5 GiB; 2048² batch 1 needs 16.5 GiB)
    decode   = VAE weights 160 MiB + width × height × 4356 (one image at a time, as ComfyUI
               batches the decode by free memory); when that does not fit, ComfyUI retries
               tiled: tile² × 4356 with the default tile of 512 px. VAEDecodeTiled uses its
               own tile_size from the start.
    usable   = vram_total − fragmentation
    OOM      : a need above `usable` fails with torch.OutOfMemoryError. "Tried to allocate"
               is the allocation that did not fit (the activations, or the weights when
               even they do not fit); "already allocated" is what was resident before it.
    after an OOM, fragmentation = vram_total × (0.15 + 0.10 × min(1, requested / vram_total))
               (15–25 % of the card) until POST /free (unload_models or free_memory) or a
               restart; ComfyUI also unloads every model after an OOM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

GIB: Final = 2**30
MIB: Final = 2**20

WEIGHTS: Final = {"sd15": 2 * GIB, "sdxl": int(6.5 * GIB), "flux": 12 * GIB, "default": 4 * GIB}
PER_PIXEL: Final = {"sd15": 3072, "sdxl": 2560, "flux": 3584, "default": 2560}
VAE_WEIGHTS: Final = 160 * MIB
VAE_BYTES_PER_PIXEL: Final = 4356
DEFAULT_TILE: Final = 512

OOM_TIPS: Final = (
    "This error means you ran out of memory on your GPU.\n\n"
    "TIPS: If the workflow worked before you might have accidentally set the batch_size "
    "to a large number."
)
"""What ComfyUI appends (after a newline) to a GPU OOM's message."""


def family_of(model_name: str | None) -> str:
    """The model family guessed from a checkpoint or diffusion-model file name."""
    name = (model_name or "").lower()
    if "flux" in name:
        return "flux"
    if any(word in name for word in ("xl", "pony", "illustrious")):
        return "sdxl"
    if any(word in name for word in ("v1-5", "sd15", "sd_1.5", "1.5", "v1_5")):
        return "sd15"
    return "default"


def format_size(size: int) -> str:
    """PyTorch's format_size: bytes, KiB, MiB or GiB with two decimals."""
    if size <= 1024:
        return f"{size} bytes"
    if size <= MIB:
        return f"{size / 1024:.2f} KiB"
    if size <= GIB:
        return f"{size / MIB:.2f} MiB"
    return f"{size / GIB:.2f} GiB"


@dataclass(frozen=True)
class OomReport:
    """The numbers of one failed allocation, as PyTorch reports them."""

    requested: int
    total: int
    allocated: int
    free: int
    reserved: int

    def torch_message(self) -> str:
        """str() of the torch.OutOfMemoryError."""
        return (
            f"CUDA out of memory. Tried to allocate {format_size(self.requested)} "
            f"(GPU 0; {format_size(self.total)} total capacity; "
            f"{format_size(self.allocated)} already allocated; {format_size(self.free)} free; "
            f"{format_size(self.reserved)} reserved in total by PyTorch) "
            "If reserved memory is >> allocated memory try setting max_split_size_mb to avoid "
            "fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF"
        )


@dataclass
class GpuMemory:
    """One GPU: total, fragmentation left by OOMs, resident weights, live activations."""

    total: int
    fragmentation: int = 0
    loaded: dict[str, int] = field(default_factory=dict)
    active: int = 0

    @property
    def usable(self) -> int:
        """What a job may use: the card minus the fragmented part."""
        return self.total - self.fragmentation

    @property
    def allocated(self) -> int:
        """Bytes held by resident weights and running activations."""
        return sum(self.loaded.values()) + self.active

    def reported_free(self) -> int:
        """vram_free as /system_stats shows it (lower while fragmented)."""
        return max(0, self.total - self.allocated - self.fragmentation)

    def check(self, resident: int, extra: int) -> OomReport | None:
        """Whether `resident` weights plus an `extra` allocation fit; the OOM report if not."""
        usable = self.usable
        if resident > usable:
            return self._report(resident, 0)
        if resident + extra > usable:
            return self._report(extra, resident)
        return None

    def _report(self, requested: int, allocated: int) -> OomReport:
        free = max(0, self.usable - allocated)
        return OomReport(requested, self.total, allocated, free, allocated + self.fragmentation)

    def forced_report(self, resident: int, extra: int) -> OomReport:
        """An OOM for a job that would fit (the `oom` fault): as if something else held the rest."""
        allocated = min(resident, self.usable)
        requested = max(extra, MIB)
        free = min(requested // 2, max(0, self.usable - allocated))
        return OomReport(requested, self.total, allocated, free, allocated + self.fragmentation)

    def after_oom(self, requested: int) -> None:
        """ComfyUI unloads every model; the allocator stays fragmented."""
        share = 0.15 + 0.10 * min(1.0, requested / self.total)
        self.fragmentation = max(self.fragmentation, int(self.total * share))
        self.loaded.clear()
        self.active = 0

    def free(self) -> None:
        """POST /free (unload_models or free_memory): models unloaded, fragmentation gone."""
        self.fragmentation = 0
        self.loaded.clear()


def sampler_need(model_name: str | None, width: int, height: int, batch: int) -> tuple[int, int]:
    """(weights, activations) a sampler needs for this model and latent size."""
    family = family_of(model_name)
    return WEIGHTS[family], batch * width * height * PER_PIXEL[family]


def decode_need(width: int, height: int, tile: int | None) -> int:
    """Peak bytes of a VAE decode, whole image (tile None) or tiled."""
    if tile is None:
        return width * height * VAE_BYTES_PER_PIXEL
    side = min(tile, max(width, height))
    return side * side * VAE_BYTES_PER_PIXEL
