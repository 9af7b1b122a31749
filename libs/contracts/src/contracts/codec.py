"""The wire codec: JSON via msgspec, one decoder for the union of every event."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, Union

import msgspec

from contracts import backend, control, failure, gpu, job, recovery, subjects
from contracts.envelope import SCHEMA_VERSION, Event
from contracts.errors import UndecodableEventError

Route = Literal["job", "backend", "fixed"]
"""Where an event's subject ends: its job id, its backend id, or nowhere (a fixed subject)."""

_MODULES: Final = (job, failure, recovery, control, backend, gpu)
"""The modules that define events: every concrete `Event` subclass in them is one."""


def _event_classes() -> tuple[type[Event], ...]:
    """Every event class, events stream first, then telemetry (definition order within)."""
    order = [
        p.removesuffix(".>") for p in (*subjects.EVENTS_SUBJECTS, *subjects.TELEMETRY_SUBJECTS)
    ]
    found = {
        kind: None
        for module in _MODULES
        for kind in vars(module).values()
        if isinstance(kind, type)
        and issubclass(kind, Event)
        and kind is not Event
        and kind.__module__ == module.__name__
    }
    return tuple(sorted(found, key=lambda kind: order.index(type_tag(kind).split(".")[0])))


def type_tag(kind: type[Any]) -> str:
    """The wire `type` of an event class, which is also its subject family."""
    return str(kind.__struct_config__.tag)


def route_of(kind: type[Any]) -> Route:
    """How `kind`'s subject is built, from its family: telemetry families end with the
    backend id, fixed families are the subject itself, every other family ends with the job."""
    prefix = type_tag(kind).split(".")[0]
    if f"{prefix}.>" in subjects.TELEMETRY_SUBJECTS:
        return "backend"
    return "fixed" if prefix in subjects.FIXED_PREFIXES else "job"


EVENT_TYPES: Final[tuple[type[Event], ...]] = _event_classes()
"""Every event class, found in the event modules (a class is its only definition)."""

_ROUTES: Final = {kind: (type_tag(kind), route_of(kind)) for kind in EVENT_TYPES}

if TYPE_CHECKING:
    AnyEvent: TypeAlias = Event
else:
    AnyEvent = Union[EVENT_TYPES]  # noqa: UP007 (a union built from a tuple of classes)

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(AnyEvent)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: Final[dict[tuple[str, int], Upcaster]] = {}
"""(type, from_version) → function turning that raw mapping into version+1."""


def encode(event: AnyEvent) -> bytes:
    """The JSON bytes of `event`."""
    return _ENCODER.encode(event)


def decode(data: bytes) -> AnyEvent:
    """Decode any event, upcasting older schema versions first.

    Raises:
        UndecodableEventError: the bytes are not JSON, or not a known event shape.
    """
    try:
        event: AnyEvent = _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return _decode_old_or_raise(data, exc)
    if event.schema_version != SCHEMA_VERSION:
        return _decode_old_or_raise(data, None)
    return event


def _decode_old_or_raise(data: bytes, cause: Exception | None) -> AnyEvent:
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise UndecodableEventError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UndecodableEventError("not a JSON object") from cause
    raw = upcast(raw)
    try:
        converted: AnyEvent = msgspec.convert(raw, AnyEvent)
        return converted
    except msgspec.ValidationError as exc:
        raise UndecodableEventError(f"invalid event: {exc}") from exc


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a raw event mapping to the current schema version, step by step."""
    version = raw.get("schema_version", 1)
    while isinstance(version, int) and version < SCHEMA_VERSION:
        step = UPCASTERS.get((str(raw.get("type")), version))
        if step is None:
            raise UndecodableEventError(f"no upcaster for {raw.get('type')} v{version}")
        raw = step(raw)
        version = raw["schema_version"] = version + 1
    return raw


def subject_for(event: AnyEvent) -> str:
    """The subject `event` is published on (per job, per backend, or fixed)."""
    family, route = _ROUTES[type(event)]
    if route == "job":
        return subjects.per_job(family, event.job_id)
    if route == "backend":
        backend_id = getattr(event, "backend_id", None) or "_"
        return subjects.per_backend(family, str(backend_id))
    return family
