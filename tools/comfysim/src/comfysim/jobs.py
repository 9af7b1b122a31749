"""The /api/jobs view of queue items and history entries (pure projections)."""

from __future__ import annotations

from typing import Any, Final

from comfysim.prompt_queue import QueueItem

JOB_STATUSES: Final = ("pending", "in_progress", "completed", "failed", "cancelled")
_PREVIEWABLE: Final = ("images", "gifs", "video", "videos", "audio", "animated")


def _workflow_id(extra_data: dict[str, Any]) -> str | None:
    workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow")
    return workflow.get("id") if isinstance(workflow, dict) else None


def _base(prompt_id: str, status: str, number: Any, extra_data: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": prompt_id,
        "status": status,
        "priority": number,
        "create_time": extra_data.get("create_time"),
    }
    workflow_id = _workflow_id(extra_data)
    if workflow_id is not None:
        job["workflow_id"] = workflow_id
    return job


def queued_job(item: QueueItem, running: bool) -> dict[str, Any]:
    """A pending or in-progress job."""
    job = _base(
        item.prompt_id, "in_progress" if running else "pending", item.number, item.extra_data
    )
    job.update(outputs_count=0, previewable_outputs_count=0)
    return job


def history_status(entry: dict[str, Any]) -> str:
    """completed, cancelled (interrupted) or failed."""
    status = entry["status"]
    if status["status_str"] == "success":
        return "completed"
    messages = status["messages"]
    return "cancelled" if messages and messages[-1][0] == "execution_interrupted" else "failed"


def finished_job(entry: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    """A finished job from its history entry (with outputs and workflow when `detail`)."""
    number, prompt_id, prompt, extra_data, _ = entry["prompt"]
    status = history_status(entry)
    job = _base(prompt_id, status, number, extra_data)
    messages = entry["status"]["messages"]
    stamps = {name: data.get("timestamp") for name, data in messages}
    job["execution_start_time"] = stamps.get("execution_start")
    job["execution_end_time"] = messages[-1][1].get("timestamp") if messages else None
    if status == "failed" and messages and messages[-1][0] == "execution_error":
        job["execution_error"] = messages[-1][1]
    items = [
        (node_id, kind, item)
        for node_id, ui in entry["outputs"].items()
        for kind, values in ui.items()
        if isinstance(values, list)
        for item in values
    ]
    previewable = [found for found in items if found[1] in _PREVIEWABLE]
    job.update(outputs_count=len(items), previewable_outputs_count=len(previewable))
    if previewable:
        node_id, kind, item = previewable[0]
        job["preview_output"] = {**item, "nodeId": node_id, "mediaType": kind}
    if detail:
        job["outputs"] = entry["outputs"]
        job["execution_status"] = entry["status"]
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def _duration(job: dict[str, Any]) -> int:
    start, end = job.get("execution_start_time"), job.get("execution_end_time")
    return (end - start) if isinstance(start, int) and isinstance(end, int) else 0


def select_jobs(
    jobs: list[dict[str, Any]],
    statuses: set[str] | None,
    workflow_id: str | None,
    sort_by: str,
    descending: bool,
) -> list[dict[str, Any]]:
    """Filter by status and workflow, then sort by creation time or execution duration."""
    chosen = [
        job
        for job in jobs
        if (statuses is None or job["status"] in statuses)
        and (workflow_id is None or job.get("workflow_id") == workflow_id)
    ]
    if sort_by == "execution_duration":
        return sorted(chosen, key=_duration, reverse=descending)
    return sorted(chosen, key=lambda job: job.get("create_time") or 0, reverse=descending)


def invalid_statuses(raw: str) -> tuple[set[str], list[str]]:
    """Parse a `status=` comma list: (valid statuses, invalid values)."""
    values = [v.strip() for v in raw.split(",") if v.strip()]
    return {v for v in values if v in JOB_STATUSES}, [v for v in values if v not in JOB_STATUSES]
