"""The watch set is a fold: dispatched minus finished, in any order."""

from __future__ import annotations

from contracts import (
    DispatchedPrompt,
    FailureEvidence,
    InterruptSent,
    JobCompleted,
    JobDispatched,
    JobFailed,
    utcnow,
)
from monitor.watch import WatchSet


def dispatched(job: str, attempt: int, *pids: str) -> JobDispatched:
    return JobDispatched(
        event_id=f"d-{job}-{attempt}",
        job_id=job,
        attempt=attempt,
        occurred_at=utcnow(),
        source="t",
        backend_id="b0",
        client_id="c",
        prompts=[DispatchedPrompt(prompt_id=p, part=i) for i, p in enumerate(pids)],
    )


def failed(job: str, attempt: int) -> JobFailed:
    return JobFailed(
        event_id=f"f-{job}",
        job_id=job,
        attempt=attempt,
        occurred_at=utcnow(),
        source="t",
        evidence=FailureEvidence(surface="client"),
    )


def completed(job: str, attempt: int) -> JobCompleted:
    return JobCompleted(
        event_id=f"c-{job}",
        job_id=job,
        attempt=attempt,
        occurred_at=utcnow(),
        source="t",
        backend_id="b0",
        prompt_ids=[],
    )


def test_dispatched_prompts_are_watched_until_their_attempt_ends() -> None:
    w = WatchSet()
    w.apply(dispatched("j", 1, "p1", "p2"), 0)
    assert set(w.prompts) == {"p1", "p2"}
    w.apply(failed("j", 1), 0)
    assert not w.prompts and not w.attempts


def test_order_does_not_matter_for_the_fold() -> None:
    events = [dispatched("a", 1, "pa"), completed("a", 1), dispatched("b", 2, "pb")]
    forward, backward = WatchSet(), WatchSet()
    for e in events:
        forward.apply(e, 0)
    for e in reversed(events):
        backward.apply(e, 0)
    assert set(forward.prompts) == set(backward.prompts) == {"pb"}


def test_interrupts_we_sent_are_remembered_even_before_the_dispatch_is_seen() -> None:
    w = WatchSet()
    w.apply(
        InterruptSent(
            event_id="i",
            job_id="j",
            attempt=1,
            occurred_at=utcnow(),
            source="t",
            backend_id="b0",
            prompt_id="p1",
            reason="cancel",
        ),
        0,
    )
    w.apply(dispatched("j", 1, "p1"), 0)
    assert w.prompts["p1"].interrupted_by_us
