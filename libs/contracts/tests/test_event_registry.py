"""An event is defined once, by its class: family, route and union membership derive from it."""

from __future__ import annotations

from typing import get_args

import contracts
from contracts import codec, subjects
from contracts.codec import EVENT_TYPES, AnyEvent, route_of, type_tag
from contracts.envelope import Event


def _all_subclasses(kind: type[Event]) -> set[type[Event]]:
    found = set(kind.__subclasses__())
    return found.union(*(_all_subclasses(k) for k in found)) if found else found


def test_every_event_class_is_in_the_union_once() -> None:
    assert contracts.__name__ == "contracts"  # every event module is imported
    assert set(EVENT_TYPES) == _all_subclasses(Event)
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)
    assert set(get_args(AnyEvent)) == set(EVENT_TYPES)


def test_every_family_is_a_subject_constant_captured_by_a_stream() -> None:
    constants = {v for k, v in vars(subjects).items() if k.isupper() and isinstance(v, str)}
    for kind in EVENT_TYPES:
        family = type_tag(kind)
        assert family in constants, family
        assert f"{family.split('.')[0]}.>" in subjects.EVENTS_SUBJECTS + subjects.TELEMETRY_SUBJECTS


def test_routes_follow_the_family() -> None:
    routes = {type_tag(kind): route_of(kind) for kind in EVENT_TYPES}
    assert routes[subjects.JOB_FAILED] == "job"
    assert routes[subjects.FAILURE_CLASSIFIED] == "job"
    assert routes[subjects.BACKEND_HEALTH] == "backend"
    assert routes[subjects.GPU_SAMPLE] == "backend"
    assert routes[subjects.CONTROL_EMERGENCY_STOP] == "fixed"
    assert {r for r in routes.values()} == {"job", "backend", "fixed"}


def test_the_events_stream_comes_first_in_the_union() -> None:
    streams = [
        "events" if f"{type_tag(k).split('.')[0]}.>" in subjects.EVENTS_SUBJECTS else "telemetry"
        for k in codec.EVENT_TYPES
    ]
    assert streams == sorted(streams)
    assert type_tag(EVENT_TYPES[0]) == subjects.JOB_SUBMITTED
