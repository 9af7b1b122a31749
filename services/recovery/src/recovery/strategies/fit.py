"""Parameters expected to fit a share of the current per-prompt work, in one step.

Moves that keep the user's result come first: split the batch into several prompts
whose outputs together are the whole batch, then (when the decoder ran out) decode in
tiles. Only then, and only when the policy allows degradation, the resolution goes down,
keeping the aspect ratio, on the latent's size grid (a multiple of 8), never under the
policy's floors. Steps never change: they do not change the memory peak.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from recovery import nodes
from recovery.edits import set_inputs, to_tiled_decode
from recovery.graph import GraphParams, Ref, Workflow, class_of, int_at
from recovery.policy import round_down, size_floors
from recovery.strategies.context import Context


class Level(enum.IntEnum):
    """How much a fit changes the user's result (lower is better)."""

    UNCHANGED = 0
    PRESERVING = 1
    DEGRADING = 2


@dataclass(frozen=True, slots=True)
class Fit:
    """A new base graph and part size expected to fit, with why."""

    level: Level
    workflow: Workflow
    part_size: int | None = None
    summary: str = "fits unchanged"
    notes: Mapping[Ref, str] = field(default_factory=dict)


def failing_stage(ctx: Context) -> str:
    """``decode`` when the failing node is a VAE decoder, else ``sample``."""
    evidence = ctx.failure.evidence
    node = ctx.failing_node
    cls = class_of(ctx.state.workflow, node) if node is not None else None
    cls = cls or ctx.features.get("node_type") or (evidence.node_type if evidence else None)
    return "decode" if cls in nodes.DECODERS else "sample"


def fit(ctx: Context, fraction: float, degrade: bool) -> Fit | None:
    """The least-changing parameters expected to use at most `fraction` of today's work."""
    found: Fit | None = ctx.cached(
        "fit", ctx.state.workflow, (fraction, degrade), lambda: _fit(ctx, fraction, degrade)
    )
    return found


def _fit(ctx: Context, fraction: float, degrade: bool) -> Fit | None:
    base = ctx.state.workflow
    if fraction >= 1.0:
        return Fit(Level.UNCHANGED, base)
    gp = ctx.params()
    per_prompt = ctx.state.part_size or int_at(base, gp.batch)
    part = _split(base, gp, per_prompt, fraction)
    if part is not None and per_prompt is not None:
        batch = int_at(base, gp.batch) or part
        summary = f"split the batch of {batch} into {math.ceil(batch / part)} prompts of {part}"
        if part <= per_prompt * fraction:
            return Fit(Level.PRESERVING, base, part, summary)
        fraction *= per_prompt
    if failing_stage(ctx) == "decode":
        tiled = _tiled(base, gp, fraction)
        if tiled is not None:
            return Fit(Level.PRESERVING, tiled[0], part, tiled[1], tiled[2])
    if not degrade:
        return None
    resized = _resized(ctx, gp, fraction)
    return (
        None if resized is None else Fit(Level.DEGRADING, resized[0], part, resized[1], resized[2])
    )


def _split(base: Workflow, gp: GraphParams, per_prompt: int | None, fraction: float) -> int | None:
    """The new part size, when the batch can be split (None: it cannot)."""
    if gp.latent is None or class_of(base, gp.latent) not in nodes.LATENT_GRID:
        return None
    if per_prompt is None or per_prompt <= 1:
        return None
    return min(max(math.floor(per_prompt * fraction), 1), nodes.SPLIT_MAX_LENGTH)


def _tiled(
    base: Workflow, gp: GraphParams, fraction: float
) -> tuple[Workflow, str, dict[Ref, str]] | None:
    """Decode in tiles whose area is `fraction` of what one decode handles today."""
    width, height = int_at(base, gp.width), int_at(base, gp.height)
    if not gp.decoders or width is None or height is None:
        return None
    tiles = [
        tile
        for d in gp.decoders
        if class_of(base, d) == nodes.TILED_DECODER
        and (tile := int_at(base, Ref(d, "tile_size"))) is not None
    ]
    area = min(tiles) ** 2 if tiles else width * height
    tile = round_down(math.isqrt(int(fraction * area)), nodes.TILE_STEP)
    if tile < nodes.TILE_MIN or (tiles and tile >= min(tiles)):
        return None
    note = f"decode in {tile}px tiles (VAEDecodeTiled) to fit the decoder's memory"
    notes = {Ref(d, "tile_size"): note for d in gp.decoders}
    return to_tiled_decode(base, gp.decoders, tile), f"decode in {tile}px tiles", notes


def _resized(
    ctx: Context, gp: GraphParams, fraction: float
) -> tuple[Workflow, str, dict[Ref, str]] | None:
    """Width and height scaled to `fraction` of the pixels, on the grid, above the floors."""
    base = ctx.state.workflow
    width, height = int_at(base, gp.width), int_at(base, gp.height)
    if gp.width is None or gp.height is None or width is None or height is None:
        return None
    floor_w, floor_h = size_floors(ctx.policy, gp.grid)
    scale = math.sqrt(fraction)
    new_w = round_down(int(width * scale), gp.grid)
    new_h = round_down(int(height * scale), gp.grid)
    if new_w < floor_w or new_h < floor_h:
        return None
    values = {gp.width: new_w, gp.height: new_h}
    for node in gp.followers:
        for name, old, new in (("width", width, new_w), ("height", height, new_h)):
            if int_at(base, Ref(node, name)) == old:
                values[Ref(node, name)] = new
    note = f"lowered to fit memory (policy allows degradation; floors {floor_w}x{floor_h})"
    summary = f"lower the resolution {width}x{height} → {new_w}x{new_h}"
    return set_inputs(base, values), summary, dict.fromkeys(values, note)
