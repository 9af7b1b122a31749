"""Contract tests: every event round-trips, golden JSON decodes, readers skip new fields."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import msgspec
import pytest

import contracts
from contracts import codec, subjects
from contracts.codec import EVENT_TYPES, UPCASTERS, decode, encode, subject_for, type_tag
from contracts.envelope import derive_event_id, prompt_id_for
from contracts.errors import UndecodableEventError
from contracts.schemas import event_schemas
from tests.support.samples import SAMPLES

GOLDEN = Path(__file__).parent / "golden"


def test_samples_cover_every_event_type() -> None:
    assert {type(s) for s in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_id)
def test_every_event_round_trips(event: codec.AnyEvent) -> None:
    assert decode(encode(event)) == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_id)
def test_golden_v1_json_decodes_to_the_same_event(event: codec.AnyEvent) -> None:
    golden = GOLDEN / f"{event.event_id}.v1.json"
    assert decode(golden.read_bytes()) == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_id)
def test_an_old_reader_skips_fields_it_does_not_know(event: codec.AnyEvent) -> None:
    raw = json.loads(encode(event))
    raw["field_from_the_future"] = {"x": 1}
    assert decode(json.dumps(raw).encode()) == event


def test_garbage_is_undecodable_with_a_reason() -> None:
    for data in (b"\xff\xfe", b"[]", b"{}", b'{"type": "job.exploded"}', b'{"type":"job.failed"}'):
        with pytest.raises(UndecodableEventError):
            decode(data)


def test_older_schema_versions_are_upcast_before_decoding() -> None:
    raw = json.loads(encode(SAMPLES[5]))  # job.cancel_requested
    raw["schema_version"] = 0
    raw["why"] = raw.pop("reason")
    with pytest.raises(UndecodableEventError, match="no upcaster"):
        decode(json.dumps(raw).encode())

    def v0_to_v1(old: dict[str, object]) -> dict[str, object]:
        new = dict(old)
        new["reason"] = new.pop("why")
        return new

    UPCASTERS[("job.cancel_requested", 0)] = v0_to_v1
    try:
        assert decode(json.dumps(raw).encode()) == SAMPLES[5]
    finally:
        del UPCASTERS[("job.cancel_requested", 0)]


def test_subjects_put_the_job_id_last_so_one_filter_reads_a_whole_history() -> None:
    for event in SAMPLES:
        subject = subject_for(event)
        if subject.startswith(("job.", "failure.", "recovery.")):
            assert subject.split(".")[-1] == "job-1"
            assert subject.split(".")[:2] == type_tag(type(event)).split(".")[:2]
    assert subjects.job_history("a.b*c") == "*.*.a_b_c"


def test_a_json_schema_is_generated_for_every_event() -> None:
    schemas = event_schemas()
    assert set(schemas) == {type_tag(t) for t in EVENT_TYPES} | {"any-event"}
    for event in SAMPLES:
        assert schemas[type_tag(type(event))]["$ref"].startswith("#/$defs/")


def test_everything_in_all_is_exported_and_every_event_is_in_it() -> None:
    for name in contracts.__all__:
        assert hasattr(contracts, name), name
    exported = [getattr(contracts, n) for n in contracts.__all__]
    assert all(t in exported for t in EVENT_TYPES)


def test_derived_ids_are_stable_and_prompt_ids_are_canonical_uuids() -> None:
    assert derive_event_id("a", "classified") == derive_event_id("a", "classified")
    assert derive_event_id("a", "classified") != derive_event_id("a", "decided")
    pid = prompt_id_for("job-1", 2, 1)
    assert str(uuid.UUID(pid)) == pid
    assert pid != prompt_id_for("job-1", 2, 0) != prompt_id_for("job-1", 3, 1)


def test_events_are_frozen_and_keyword_only() -> None:
    with pytest.raises(AttributeError):
        SAMPLES[0].job_id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        contracts.JobCancelRequested("e", "j")  # type: ignore[misc]
    assert msgspec.structs.force_setattr is not None
