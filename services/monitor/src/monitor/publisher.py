"""The monitor's outgoing facts: job outcomes and progress, backend telemetry, registry KV."""

from __future__ import annotations

import msgspec

from contracts import codec, subjects
from contracts.codec import AnyEvent
from contracts.envelope import derive_event_id, new_event_id, utcnow
from contracts.job import FailureEvidence, JobCompleted, JobFailed, JobProgressed, OutputFile
from cr_client.bus import Bus
from cr_client.nats_errors import translated
from cr_runtime.settings import instance_source
from monitor.watch import AttemptWatch, PromptWatch

SOURCE = instance_source("monitor")
"""Who publishes when no instance name is given (``monitor/<host>-<pid>``)."""


class Publisher:
    """Builds and publishes the monitor's events (ids derived where a retry must dedup)."""

    def __init__(self, bus: Bus, source: str = SOURCE) -> None:
        self.bus = bus
        self.source = source
        """The events' source: ``monitor/<instance>`` (`ServiceSettings.source`)."""

    async def failed(self, prompt: PromptWatch, cause: str, evidence: FailureEvidence) -> None:
        """A prompt failed: one job.failed per prompt, whoever notices first."""
        await self.bus.publish(
            JobFailed(
                event_id=derive_event_id(prompt.prompt_id, "failed"),
                job_id=prompt.job_id,
                attempt=prompt.attempt,
                occurred_at=utcnow(),
                source=self.source,
                causation_id=cause,
                backend_id=prompt.backend_id,
                prompt_id=prompt.prompt_id,
                evidence=evidence,
            )
        )

    async def completed(
        self,
        attempt: AttemptWatch,
        outputs: dict[str, list[OutputFile]],
        cached: list[str],
        duration_s: float,
    ) -> None:
        """Every prompt of the attempt succeeded."""
        await self.bus.publish(
            JobCompleted(
                event_id=derive_event_id(f"{attempt.job_id}:{attempt.attempt}", "completed"),
                job_id=attempt.job_id,
                attempt=attempt.attempt,
                occurred_at=utcnow(),
                source=self.source,
                causation_id=attempt.causation_id,
                backend_id=attempt.backend_id,
                prompt_ids=sorted(attempt.prompts),
                outputs=outputs,
                cached_nodes=cached,
                duration_s=duration_s,
            )
        )

    async def progress(self, prompt: PromptWatch, node: str | None, value: int, top: int) -> None:
        """A coalesced progress report."""
        await self.bus.publish(
            JobProgressed(
                event_id=new_event_id(),
                job_id=prompt.job_id,
                attempt=prompt.attempt,
                occurred_at=utcnow(),
                source=self.source,
                backend_id=prompt.backend_id,
                prompt_id=prompt.prompt_id,
                node=node,
                node_type=prompt.node_type,
                value=value,
                max=top,
                percent=round(100.0 * value / top, 1) if top else 0.0,
            )
        )

    async def telemetry(self, event: AnyEvent, registry_kind: str | None = None) -> None:
        """Publish a telemetry event (as this publisher's source); also keep it in the
        backend registry when asked."""
        if event.source != self.source:
            event = msgspec.structs.replace(event, source=self.source)
        await self.bus.publish(event)
        if registry_kind is not None:
            key = f"{getattr(event, 'backend_id', '_')}.{registry_kind}"
            with translated(f"write {key}"):  # NATS restarting: the next sample writes it
                kv = await self.bus.kv(subjects.KV_BACKENDS)
                await kv.put(key, codec.encode(event))
