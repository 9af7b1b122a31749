"""Benchmark: accuracy on the labelled corpora, and failures classified per second, in process and
through a real nats-server. Prints figures only."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import msgspec.structs

from classifier.app import run
from classifier.config import Settings
from classifier.engine import _classify, classify
from classifier.rules import default_rules
from classifier.scoring import BARRED, CORPUS_FILES, corpus_scores, load_corpus
from comfy_recovery.natsd import NatsServer
from contracts import subjects
from contracts.envelope import new_event_id, utcnow
from contracts.job import FailureEvidence, JobFailed
from contracts.settings import BusSettings
from cr_client.bus import Bus

FIELDS = ("surface", "exception_type", "message", "node_type", "validation_type", "http_status")


def corpus_dir() -> Path:
    """The vendored corpora: services/classifier/corpus/."""
    return Path(__file__).resolve().parents[1] / "corpus"


def load_evidence() -> list[FailureEvidence]:
    """Every corpus entry as FailureEvidence (flat keys kept when set)."""
    evidence = []
    for name in CORPUS_FILES.values():
        for line in (corpus_dir() / name).read_text("utf-8").splitlines():
            row = json.loads(line)
            fields = {k: row[k] for k in FIELDS if row.get(k) not in ("", None)}
            evidence.append(msgspec.convert(fields, FailureEvidence))
    return evidence


def accuracy_lines() -> list[str]:
    """The accuracy figures of every corpus file, of the honest held-out measure (the fresh
    sets, `classifier.scoring.HONEST_PARTS`) and of the whole corpus, then issue 13's bar on
    the barred sets."""
    scores = list(corpus_scores(load_corpus(corpus_dir())).values())
    lines = [line for s in scores for line in s.lines()]
    for s in scores:
        if s.name in BARRED:
            short = s.short_of_bar()
            verdict = f"NOT met ({', '.join(short)})" if short else "met"
            lines.append(f"issue 13 bar on {s.name}: {verdict}")
    return lines


TARGET_PER_CORE = 20_000
"""Issue 13: classifications per second per core, in process, for distinct messages."""


def bench_in_process(
    evidence: Sequence[FailureEvidence], count: int, *, unique: bool = False, rounds: int = 5
) -> tuple[float, float]:
    """Classifications per CPU-second on one core: (median, best) over `rounds`, corpus cycled.

    CPU time (`time.process_time`), not wall time: the machine may be shared. With `unique`
    (the headline figure) every message is made distinct (a job id appended) and classified
    without the verdict memo, every step run. Without it, identical evidence repeats and is
    answered from the rule set's memo (an OOM storm, an outage).
    """
    rules = default_rules()
    items = [
        _unique(evidence[i % len(evidence)], i) if unique else evidence[i % len(evidence)]
        for i in range(count)
    ]
    for item in evidence:
        classify(item)
    rates = []
    for _ in range(rounds):
        cpu = time.process_time()
        if unique:
            for item in items:
                _classify(item, rules)
        else:
            for item in items:
                classify(item)
        rates.append(count / max(time.process_time() - cpu, 1e-9))
    return statistics.median(rates), max(rates)


def _unique(evidence: FailureEvidence, i: int) -> FailureEvidence:
    return msgspec.structs.replace(evidence, message=f"{evidence.message} [job {i}]")


def worst_case_ms(evidence: Sequence[FailureEvidence]) -> float:
    """The most CPU time one classification took over hostile inputs (huge, repetitive, nested)."""
    rules = default_rules()
    needles = " ".join(rules.vocabulary.needles)
    hostile: list[Any] = [
        {"surface": "log", "message": needles * 40},
        {"surface": "log", "message": ("error: " * 5000)},
        {"surface": "log", "message": "' not in [" * 3000, "traceback": [needles] * 50},
        {"surface": "validation", "body": "{" + '"a":' * 20000 + "1" + "}" * 20000},
        {"surface": "execution_error", "message": "a" * 100_000, "traceback": ["b" * 10_000] * 100},
        *({"surface": e.surface, "message": e.message * 60} for e in evidence),
    ]
    worst = 0.0
    for item in hostile:
        started = time.process_time()
        _classify(item, rules)
        worst = max(worst, time.process_time() - started)
    return worst * 1000


async def bench_bus(evidence: Sequence[FailureEvidence], count: int) -> float:
    """Failures classified per second end to end: job.failed in, failure.classified out."""
    with tempfile.TemporaryDirectory() as store:
        server = NatsServer(Path(store)).start()
        try:
            settings = BusSettings(url=server.url)
            bus = await Bus.connect(settings)
            await _publish(bus, evidence, count)
            stop = asyncio.Event()
            started = time.perf_counter()
            service = asyncio.create_task(run(Settings(nats=settings, log_level="ERROR"), stop))
            while True:
                if await _classified(bus) >= count:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            stop.set()
            await service
            await bus.close()
            return count / elapsed
        finally:
            server.stop()


async def _publish(bus: Bus, evidence: Sequence[FailureEvidence], count: int) -> None:
    for start in range(0, count, 200):
        batch = [
            JobFailed(
                event_id=new_event_id(),
                job_id=f"bench-{i}",
                attempt=1,
                occurred_at=utcnow(),
                source="bench/x",
                evidence=evidence[i % len(evidence)],
            )
            for i in range(start, min(start + 200, count))
        ]
        await asyncio.gather(*(bus.publish(event) for event in batch))


async def _classified(bus: Bus) -> int:
    subject = f"{subjects.FAILURE_CLASSIFIED}.>"
    info = await bus.js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


def main(argv: Sequence[str] | None = None) -> None:
    """Print both rates (and the worst single classification) in one run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in-process", type=int, default=20_000, help="classifications a round")
    parser.add_argument("--bus", type=int, default=3_000, help="failures through NATS (0: skip)")
    args = parser.parse_args(argv)
    for line in accuracy_lines():
        print(f"classifier accuracy {line}")
    evidence = load_evidence()
    runs = f"{args.in_process:,} classifications over {len(evidence)} entries, 1 core"
    for unique, label in ((True, "distinct messages, memo off"), (False, "repeated, memo on")):
        median, best = bench_in_process(evidence, args.in_process, unique=unique)
        verdict = ""
        if unique:
            met = "met" if median >= TARGET_PER_CORE else "NOT met"
            verdict = f" — target {TARGET_PER_CORE:,}/s/core {met}"
        print(
            f"classifier in-process ({label}): {median:,.0f} classifications/s per CPU-second"
            f" (median of 5 rounds, best {best:,.0f}; {runs}){verdict}"
        )
    print(f"classifier worst single hostile input: {worst_case_ms(evidence):.2f} ms CPU")
    if args.bus <= 0:
        return
    bus_rate = asyncio.run(bench_bus(evidence, args.bus))
    print(f"classifier through the bus: {bus_rate:,.0f} failures/s ({args.bus} job.failed)")


if __name__ == "__main__":
    main()
