"""docs/asyncapi.yaml: generated from the contracts, in sync, true to the code, and valid
for the official AsyncAPI CLI (installed by `make asyncapi-cli` into .tools/)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
import yaml

from contracts import asyncapi, asyncapi_rpc, codec, schemas
from contracts.codec import EVENT_TYPES, type_tag
from contracts.streams import CONSUMERS
from tests.support.samples import SAMPLES

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "asyncapi.yaml"
CLI = ROOT / ".tools" / "node_modules" / ".bin" / "asyncapi"
SOURCES = {
    "clients": [ROOT / "libs/client/src/cr_client/client.py"],
    "submitter": [ROOT / "services/submitter/src"],
    "monitor": [ROOT / "services/monitor/src"],
    "classifier": [ROOT / "services/classifier/src"],
    "recovery": [ROOT / "services/recovery/src"],
    "analytics": [ROOT / "services/analytics/src"],
}
"""Where each publisher of `asyncapi.PUBLISHERS` lives."""
NEVER_PUBLISHED = {ROOT / "services/recovery/src/recovery/replay_sim.py"}
"""Code that builds events only in memory (the what-if replay's simulated attempts)."""


def test_the_committed_document_is_what_make_schemas_writes() -> None:
    assert DOC.read_text() == asyncapi.render(), "docs/asyncapi.yaml is stale: run `make schemas`"


def test_the_committed_json_schemas_are_what_make_schemas_writes() -> None:
    on_disk = {p.name: p.read_text() for p in (ROOT / "docs" / "schemas").glob("*.json")}
    assert on_disk == schemas.schema_texts(), "docs/schemas is stale: run `make schemas`"


def test_changing_an_event_makes_the_drift_test_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    class Changed(msgspec.Struct, kw_only=True, tag="job.progress", tag_field="type"):
        """A job.progress with one field more."""

        eta_s: float = 0.0

    types = tuple(Changed if type_tag(k) == "job.progress" else k for k in EVENT_TYPES)
    monkeypatch.setattr(asyncapi, "EVENT_TYPES", types)
    assert asyncapi.render() != DOC.read_text()


def _doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOC.read_text())
    return loaded


def test_every_event_has_a_channel_with_its_schema_as_payload() -> None:
    doc = _doc()
    for kind in EVENT_TYPES:
        cid = asyncapi.camel(type_tag(kind))
        message = doc["components"]["messages"][cid]
        assert message["payload"] == {"$ref": f"#/components/schemas/{kind.__name__}"}
        assert kind.__name__ in doc["components"]["schemas"]
        assert doc["channels"][cid]["messages"][cid]["$ref"] == f"#/components/messages/{cid}"


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_a_real_event_matches_its_channel_address_and_payload_schema(
    event: codec.AnyEvent,
) -> None:
    doc = _doc()
    cid = asyncapi.camel(type_tag(type(event)))
    channel = doc["channels"][cid]
    subject = codec.subject_for(event)
    assert asyncapi.covers(asyncapi.pattern_of(channel["address"]), subject)
    for name in re.findall(r"\{(\w+)\}", channel["address"]):
        assert name in channel["parameters"]
    schema = {"$ref": f"#/components/schemas/{type(event).__name__}", **doc}
    jsonschema.validate(json.loads(codec.encode(event)), schema)


def test_a_payload_with_a_wrong_type_is_rejected_by_the_schema() -> None:
    doc = _doc()
    raw = json.loads(codec.encode(next(e for e in SAMPLES if type(e).__name__ == "JobFailed")))
    raw["attempt"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, {"$ref": "#/components/schemas/JobFailed", **doc})


def _constructed(paths: list[Path]) -> set[str]:
    """Event classes the code under `paths` builds (``Name(event_id=`` or ``Name(**``)."""
    names = {kind.__name__ for kind in EVENT_TYPES}
    found = set()
    for path in paths:
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if file in NEVER_PUBLISHED:
                continue
            text = file.read_text()
            found |= {n for n in names if re.search(rf"\b{n}\(\s*(event_id=|\*\*)", text)}
    return found


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_the_publisher_table_matches_the_events_each_service_constructs(service: str) -> None:
    declared = {kind.__name__ for kind in asyncapi.PUBLISHERS.get(service, ())}
    assert _constructed(SOURCES[service]) == declared


def _calling(pattern: str, paths: list[Path]) -> bool:
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.py")))]
    return any(re.search(pattern, f.read_text()) for f in files)


def test_the_stats_requesters_and_responder_are_the_services_that_ask_and_answer() -> None:
    asking = {
        "clients": [ROOT / "libs/cli/src"],
        "submitter": SOURCES["submitter"],
        "monitor": SOURCES["monitor"],
        "classifier": SOURCES["classifier"],
        "recovery": SOURCES["recovery"],
        "analytics": SOURCES["analytics"],
    }
    found = {s for s, paths in asking.items() if _calling(r"\brequest_stats\(", paths)}
    assert found == set(asyncapi_rpc.REQUESTERS["analyticsStats"])
    service, _ = asyncapi_rpc.RESPONDER["analyticsStats"]
    answering = {s for s, paths in SOURCES.items() if _calling(r"ANALYTICS_QUEUE", paths)}
    assert answering == {service}
    ops = _doc()["operations"]
    assert ops["analytics.receive.analyticsStats"]["bindings"]["nats"]["queue"] == "analytics-stats"
    assert _doc()["channels"]["analyticsStats"]["address"] == "cr.rpc.analytics.stats"


def test_every_event_has_a_publisher_and_every_durable_a_receive_operation() -> None:
    published = {kind for kinds in asyncapi.PUBLISHERS.values() for kind in kinds}
    assert published == set(EVENT_TYPES)
    ops = _doc()["operations"]
    for spec in CONSUMERS:
        assert any(op.endswith(f".{spec.durable}") for op in ops), spec.durable


def test_receivers_follow_the_filter_subjects() -> None:
    assert asyncapi.receivers("failure.classified.*") == [
        ("recovery", "recovery"),
        ("analytics", "analytics-events"),
    ]
    job_failed = {durable for _, durable in asyncapi.receivers("job.failed.*")}
    assert {"classifier", "monitor-dispatches", "recovery"} <= job_failed
    assert "submitter-jobs" not in job_failed
    assert asyncapi.receivers("gpu.sample.*") == [("analytics", "analytics-telemetry")]


@pytest.mark.parametrize(
    ("wide", "narrow", "expected"),
    [
        (">", "job.failed.*", True),
        ("job.>", "job.failed.*", True),
        ("job.failed.*", "job.failed.*", True),
        ("job.*.*", "job.failed.*", True),
        ("job.failed.*", "job.*.*", False),
        ("job.submitted.*", "job.failed.*", False),
        ("control.resumed", "control.resumed", True),
        ("control.resumed", "control.emergency_stop", False),
        ("job.>", "job", False),
        ("job.failed.*", "job.failed.*.x", False),
        ("job.failed.*", "job.failed.>", False),
    ],
)
def test_covers(wide: str, narrow: str, expected: bool) -> None:
    assert asyncapi.covers(wide, narrow) is expected


@pytest.fixture(scope="session")
def asyncapi_cli(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The pinned official CLI; installed with `make asyncapi-cli` when missing (npm)."""
    if not CLI.exists():
        done = subprocess.run(
            ["make", "-s", "asyncapi-cli"], cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0 or not CLI.exists():
            pytest.fail(
                "could not install @asyncapi/cli with `make asyncapi-cli` (needs node and the "
                f"npm registry):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
    return [str(CLI)]


def _validate(cli: list[str], path: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    metrics = tmp / "asyncapi-analytics.json"
    metrics.write_text('{"analyticsEnabled":"false","infoMessageShown":"true","userID":"t"}')
    env = {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(metrics)}
    return subprocess.run(
        [*cli, "validate", str(path), "--fail-severity", "error"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_the_official_cli_validates_the_document(asyncapi_cli: list[str], tmp_path: Path) -> None:
    done = _validate(asyncapi_cli, DOC, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout + done.stderr


def test_the_official_cli_rejects_a_broken_document(
    asyncapi_cli: list[str], tmp_path: Path
) -> None:
    doc = _doc()
    del doc["components"]["schemas"]["JobFailed"]  # a payload $ref that resolves nowhere
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc))
    done = _validate(asyncapi_cli, broken, tmp_path)
    assert done.returncode != 0, done.stdout + done.stderr
