"""The submitter's durables receive only what its handlers act on."""

from __future__ import annotations

from contracts import subjects
from contracts.streams import CONSUMERS


def _covers(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` one token, ``>`` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


def _hearing(subject: str) -> set[str]:
    return {c.durable for c in CONSUMERS if any(_covers(f, subject) for f in c.filter_subjects)}


def test_new_jobs_durable_hears_submissions_only() -> None:
    """Cancellations are recovery's to decide (an Interrupt and an Abort, carried out from
    the decisions durable); the jobs durable received them only to drop them."""
    cancel = f"{subjects.JOB_CANCEL_REQUESTED}.job-1"
    assert subjects.DURABLE_SUBMITTER_JOBS not in _hearing(cancel)
    assert subjects.DURABLE_RECOVERY in _hearing(cancel)
    assert subjects.DURABLE_SUBMITTER_JOBS in _hearing(f"{subjects.JOB_SUBMITTED}.job-1")
