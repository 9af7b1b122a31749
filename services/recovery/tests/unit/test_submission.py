"""A job's first state: the analysis of its graph is shared by every job of that graph."""

from __future__ import annotations

from typing import Any

from contracts.job import Binding
from recovery.projection import Projection
from recovery.submission import ANALYSES_KEPT
from services.recovery.tests.builders import sd15, submitted


def noted(text: str, batch: int = 1) -> dict[str, Any]:
    """An SD1.5 graph made distinct by a note node (no other test submits it)."""
    return {**sd15(batch=batch), "99": {"class_type": "Note", "inputs": {"text": text}}}


def test_jobs_of_one_workflow_share_one_graph_and_read_the_same_params() -> None:
    p = Projection()
    p.apply(submitted("a", noted("shared")))
    p.apply(submitted("b", noted("shared"), params={"seed": 7}))
    a, b = p.jobs["a"], p.jobs["b"]
    assert a.original is b.original and b.workflow is b.original
    assert a.original_params == {"width": 512, "height": 512, "batch_size": 1, "steps": 20} | {
        "ckpt_name": "v1-5-pruned-emaonly.safetensors",
        "decoder": "VAEDecode",
    }
    assert b.original_params == {**a.original_params, "seed": 7}


def test_graphs_that_differ_in_one_value_are_analysed_apart() -> None:
    p = Projection()
    p.apply(submitted("a", noted("apart", batch=1)))
    p.apply(submitted("b", noted("apart", batch=3)))
    assert p.jobs["a"].original is not p.jobs["b"].original
    assert p.jobs["b"].original_params["batch_size"] == 3


def test_bindings_are_part_of_what_is_shared() -> None:
    p = Projection()
    p.apply(submitted("a", noted("bound")))
    bound = {"size": Binding(node="5", input="width")}
    p.apply(submitted("b", noted("bound"), bindings=bound, params={"size": 768}))
    assert p.jobs["a"].original is not p.jobs["b"].original
    assert p.jobs["b"].original["5"]["inputs"]["width"] == 768


def test_the_cache_keeps_the_most_recently_used_graphs_only() -> None:
    p = Projection()
    p.apply(submitted("first", noted("lru-0")))
    p.apply(submitted("second", noted("lru-1")))
    for index in range(2, ANALYSES_KEPT + 1):
        p.apply(submitted(f"used-{index}", noted("lru-0")))  # keeps lru-0 recently used
        p.apply(submitted(f"other-{index}", noted(f"lru-{index}")))
    p.apply(submitted("first-again", noted("lru-0")))
    p.apply(submitted("second-again", noted("lru-1")))
    assert p.jobs["first-again"].original is p.jobs["first"].original
    assert p.jobs["second-again"].original is not p.jobs["second"].original
    assert p.jobs["second-again"].original == p.jobs["second"].original
