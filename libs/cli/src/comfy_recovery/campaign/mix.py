"""The seeded job mix: which job gets which fault, how it is labelled, its workflow.

Pure: the same (jobs, seed) always gives the same list. Labels follow docs/TAXONOMY.md:
`clean` (no fault), `recoverable` (a policy can finish it with the output asked for),
`non-recoverable` (only a human can fix it: the job must stop with a message).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

CLEAN, RECOVERABLE, NON_RECOVERABLE = "clean", "recoverable", "non-recoverable"
MAX_JOBS: Final = 9999
CLEAN_SHARE: Final = 1 / 3
MISSING_CKPT: Final = "sd_xl_refiner_1.0.safetensors"
"""A checkpoint no simulated backend has."""
MISSING_CLASS: Final = "FaceDetailerPro"
"""A custom node class no simulated backend has."""
CORRUPT_CKPT: Final = "v1-5-pruned-emaonly.safetensors"
"""The checkpoint corrupt_model jobs load: only they use it, so a cached loader (which would
not run, hence not fail) is rare."""


@dataclass(frozen=True)
class Kind:
    """One kind of trouble: its label, the simulator fault (if any), its scope and weight."""

    name: str
    label: str
    fault: str | None = None
    scope: str = "once"
    params: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0


KINDS: Final = (
    Kind("oom", RECOVERABLE, "oom"),
    Kind("oom_batch", RECOVERABLE),
    Kind("oom_resolution", RECOVERABLE),
    Kind("host_oom", RECOVERABLE, "host_oom"),
    Kind("stall", RECOVERABLE, "stall"),
    Kind("crash", RECOVERABLE, "crash", params={"down_s": 2.0}),
    Kind("ws_drop", RECOVERABLE, "ws_drop"),
    Kind("ws_slow", RECOVERABLE, "ws_slow", params={"delay_s": 0.05}),
    Kind("http500", RECOVERABLE, "http500"),
    Kind("reset", RECOVERABLE, "reset"),
    Kind("interrupt", RECOVERABLE, "interrupt"),
    Kind("device_fault", RECOVERABLE, "device_fault", scope="backend"),
    Kind("disk_full", RECOVERABLE, "disk_full", scope="backend"),
    Kind("corrupt_model", RECOVERABLE, "corrupt_model", scope="backend"),
    Kind("wedged", RECOVERABLE, "wedged", weight=0.5),
    Kind("missing_model", NON_RECOVERABLE),
    Kind("missing_node", NON_RECOVERABLE),
    Kind("node_error", NON_RECOVERABLE, "node_error", scope="always"),
)
"""Every kind in the mix. `oom_batch` (batch 8 at 1024² on 24 GiB: only a split keeps every
image), `oom_resolution` (3072², degradation allowed), `missing_model` and `missing_node` are
in the workflow itself; the others are simulator faults matched by the job's marker."""
KIND_BY_NAME: Final = {k.name: k for k in KINDS}


@dataclass(frozen=True)
class JobSpec:
    """One job of the campaign."""

    index: int
    kind: str
    label: str
    arrival_s: float
    width: int = 1024
    height: int = 1024
    batch: int = 1
    steps: int = 10
    ckpt: str = "sd_xl_base_1.0.safetensors"
    allow_degradation: bool = False
    extra_node: bool = False

    @property
    def marker(self) -> str:
        """The job's marker in its filename_prefix (faults match on it)."""
        return f"cmp{self.index:04d}x"

    def workflow(self) -> dict[str, Any]:
        """The job's API-format graph (the packaged SDXL text-to-image, adapted)."""
        graph = copy.deepcopy(_base())
        graph["5"]["inputs"].update(width=self.width, height=self.height, batch_size=self.batch)
        graph["3"]["inputs"].update(steps=self.steps, seed=self.index)
        graph["4"]["inputs"]["ckpt_name"] = self.ckpt
        graph["9"]["inputs"]["filename_prefix"] = f"{self.marker}-{self.kind}"
        if self.extra_node:
            graph["10"] = {"class_type": MISSING_CLASS, "inputs": {"image": ["8", 0]}}
            graph["11"] = {
                "class_type": "SaveImage",
                "inputs": {"images": ["10", 0], "filename_prefix": f"{self.marker}-detail"},
            }
        return graph

    def fault(self) -> dict[str, Any] | None:
        """The simulator fault to arm for this job: {kind, match, params, scope}, or None."""
        kind = KIND_BY_NAME.get(self.kind)
        if kind is None or kind.fault is None:
            return None
        return {
            "kind": kind.fault,
            "match": {"filename_prefix_contains": self.marker},
            "params": dict(kind.params),
            "scope": kind.scope,
        }


def _base() -> dict[str, Any]:
    text = resources.files("comfy_recovery.workflows").joinpath("sdxl_txt2img.json").read_text()
    graph: dict[str, Any] = json.loads(text)
    return graph


def kind_counts(jobs: int) -> dict[str, int]:
    """How many jobs of each kind: a third clean, the rest split by weight (largest remainder)."""
    clean = round(jobs * CLEAN_SHARE)
    faulty = jobs - clean
    total = sum(k.weight for k in KINDS)
    exact = {k.name: faulty * k.weight / total for k in KINDS}
    counts = {name: int(value) for name, value in exact.items()}
    left = faulty - sum(counts.values())
    for name in sorted(exact, key=lambda n: (counts[n] - exact[n], n))[:left]:
        counts[name] += 1
    return {"clean": clean, **counts}


def make_mix(jobs: int, seed: int, arrival_window_s: float) -> list[JobSpec]:
    """The campaign's jobs in submission order, with seeded kinds and arrival times."""
    if not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"jobs must be between 1 and {MAX_JOBS}, not {jobs}")
    rng = random.Random(seed)
    kinds = [name for name, count in kind_counts(jobs).items() for _ in range(count)]
    rng.shuffle(kinds)
    arrivals = sorted(rng.uniform(0, arrival_window_s) for _ in kinds)
    specs = []
    for index, (name, arrival) in enumerate(zip(kinds, arrivals, strict=True)):
        label = CLEAN if name == "clean" else KIND_BY_NAME[name].label
        shape = _shape(name, rng)
        specs.append(JobSpec(index, name, label, round(arrival, 3), **shape))
    return specs


def _shape(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == "oom_batch":
        return {"batch": 8}
    if kind == "oom_resolution":
        return {"width": 3072, "height": 3072, "allow_degradation": True}
    if kind == "missing_model":
        return {"ckpt": MISSING_CKPT}
    if kind == "missing_node":
        return {"extra_node": True}
    if kind == "corrupt_model":
        return {"ckpt": CORRUPT_CKPT}
    width, height = rng.choice(((1024, 1024), (832, 1216), (1216, 832)))
    return {"width": width, "height": height, "batch": rng.choice((1, 1, 2))}
