"""``comfy-recovery deadletters`` lists what consumers gave up on (real nats-server)."""

from __future__ import annotations

import json

import pytest

from comfy_recovery.deadletters_cmd import read_dead_letters, render
from contracts import BusSettings, FailureEvidence, JobFailed, utcnow
from contracts import subjects as subj
from contracts.codec import encode
from cr_client import Bus
from libs.cli.tests.clirun import run_cli

pytestmark = pytest.mark.integration


async def test_dead_letters_are_listed_with_reason_consumer_and_job(
    bus: Bus, bus_settings: BusSettings
) -> None:
    event = JobFailed(
        event_id="dl-1",
        job_id="job-dl",
        occurred_at=utcnow(),
        source="t",
        evidence=FailureEvidence(surface="client", message="boom"),
    )
    original = subj.per_job(subj.JOB_FAILED, "job-dl")
    await bus.publish_raw(
        subj.deadletter(original),
        encode(event),
        {
            subj.HDR_DLQ_REASON: "max_deliver: given up after 20 deliveries: boom",
            subj.HDR_DLQ_SUBJECT: original,
            subj.HDR_DLQ_CONSUMER: "classifier",
        },
    )
    await bus.publish_raw(subj.deadletter("job.failed.x"), b"\xff", {})
    [first, second] = await read_dead_letters(bus)
    assert (first.consumer, first.subject, first.job_id) == ("classifier", original, "job-dl")
    assert first.event_type == "job.failed" and first.reason.startswith("max_deliver")
    assert second.event_type is None and second.subject == "job.failed.x"
    assert "max_deliver" in render([first, second])

    out = await run_cli(bus_settings.url, "deadletters", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["job_id"] for r in rows] == ["job-dl", None]
