"""Backend choice: capable, healthy, least loaded; hints and exclusions honoured."""

from __future__ import annotations

from submitter.selection import BackendView, Constraints, choose_backend, required_models

WF = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}},
}
NODES = frozenset({"CheckpointLoaderSimple", "SaveImage"})


def view(ident: str, **kw: object) -> BackendView:
    base: dict[str, object] = {"node_classes": NODES, "models": frozenset({"sdxl.safetensors"})}
    base.update(kw)
    return BackendView(ident, **base)  # type: ignore[arg-type]


def test_least_queued_capable_backend_wins() -> None:
    chosen = choose_backend([view("a", queue=3), view("b", queue=1)], [WF], Constraints())
    assert chosen is not None and chosen.id == "b"


def test_backend_without_the_node_or_model_is_skipped() -> None:
    views = [
        view("a", queue=0, node_classes=frozenset({"SaveImage"})),
        view("b", queue=0, models=frozenset()),
        view("c", queue=9),
    ]
    chosen = choose_backend(views, [WF], Constraints())
    assert chosen is not None and chosen.id == "c"


def test_open_breaker_unreachable_excluded_and_quarantined_are_never_chosen() -> None:
    views = [
        view("a", breaker="open"),
        view("b", reachable=False),
        view("c"),
        view("d", quarantined=True),
    ]
    assert choose_backend(views, [WF], Constraints(exclude=frozenset({"c"}))) is None


def test_hint_wins_when_capable_and_version_constraint_applies() -> None:
    views = [view("a", queue=0, version="0.33.0"), view("b", queue=5, version="0.32.0")]
    chosen = choose_backend(views, [WF], Constraints(hint="b"))
    assert chosen is not None and chosen.id == "b"
    chosen = choose_backend(views, [WF], Constraints(version_other_than="0.33.0"))
    assert chosen is not None and chosen.id == "b"


def test_when_nobody_is_known_capable_validation_on_a_live_backend_decides() -> None:
    views = [view("a", node_classes=frozenset()), view("b", node_classes=frozenset(), queue=2)]
    chosen = choose_backend(views, [WF], Constraints())
    assert chosen is not None and chosen.id == "a"


def test_model_files_are_found_by_extension_only() -> None:
    wf = {"1": {"class_type": "X", "inputs": {"a": "x.ckpt", "b": "hello", "c": 3}}}
    assert required_models([wf]) == {"x.ckpt"}
