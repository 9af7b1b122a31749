"""Posting an attempt's prompts to one ComfyUI backend, each part at most once."""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from contracts.backends import EXTRA_DATA_KEY, BackendRef, monitor_client_id
from contracts.envelope import prompt_id_for
from contracts.job import DispatchedPrompt, FailureEvidence
from submitter import evidence
from submitter.adapters.comfy import ComfyClient, PromptReply
from submitter.attempt import Attempt
from submitter.errors import ComfyReplyError, ComfyUnreachableError

log = structlog.get_logger(__name__)

Rejection = tuple[str, FailureEvidence]
"""The prompt id a backend refused, and the evidence of its refusal."""


async def post_all(
    client: ComfyClient, attempt: Attempt, expected: list[str], fresh: bool
) -> tuple[list[DispatchedPrompt], Rejection | None]:
    """Post each part; unless the claim is `fresh`, each is looked for on the backend first
    (a holder that took over a claim may find the prompts already posted).

    Raises:
        ComfyUnreachableError: a post failed and the backend does not have the prompt.
        ComfyReplyError: the backend answered a look-up with an error.
    """
    prompts: list[DispatchedPrompt] = []
    for part, workflow in enumerate(attempt.workflows):
        prompt_id = prompt_id_for(attempt.job_id, attempt.attempt, part)
        if not fresh and await client.has_prompt(prompt_id):
            log.info("dispatch.already_posted", prompt_id=prompt_id)
            prompts.append(DispatchedPrompt(prompt_id=prompt_id, part=part, output_nodes=expected))
            continue
        reply = await post(client, prompt_body(client.ref, attempt, part, workflow))
        rejected = evidence.rejected(reply) if reply is not None else None
        if rejected is not None:
            if reply is not None and reply.status == 200:
                await abandon(client, prompt_id)
            return prompts, (prompt_id, rejected)
        number = reply.json.get("number") if reply and isinstance(reply.json, dict) else None
        prompts.append(
            DispatchedPrompt(prompt_id=prompt_id, part=part, number=number, output_nodes=expected)
        )
    return prompts, None


async def post(client: ComfyClient, body: dict[str, Any]) -> PromptReply | None:
    """POST /prompt; None when the connection broke but the backend has the prompt.

    Raises:
        ComfyUnreachableError: the post failed and the backend does not have the prompt.
    """
    try:
        return await client.post_prompt(body)
    except ComfyUnreachableError:
        # a reset or read timeout may come after ComfyUI queued it: look before failing
        with contextlib.suppress(ComfyUnreachableError, ComfyReplyError):
            if await client.has_prompt(body["prompt_id"]):
                return None
        raise


def prompt_body(
    ref: BackendRef, attempt: Attempt, part: int, workflow: dict[str, Any]
) -> dict[str, Any]:
    """The /prompt body of one part: its derived prompt id, the monitor's client id, and
    the job, attempt and part in ``extra_data`` (how the monitor recognises our prompts)."""
    return {
        "prompt": workflow,
        "prompt_id": prompt_id_for(attempt.job_id, attempt.attempt, part),
        "client_id": monitor_client_id(ref.id),
        "extra_data": {
            EXTRA_DATA_KEY: {"job_id": attempt.job_id, "attempt": attempt.attempt, "part": part}
        },
    }


async def abandon(client: ComfyClient, prompt_id: str) -> None:
    """A partially accepted prompt is a failure: stop it before it burns GPU time.

    Best effort: the rejection is the evidence to report, whatever happens here.
    """
    with contextlib.suppress(ComfyUnreachableError, ComfyReplyError):
        await client.delete_queued([prompt_id])
        await client.interrupt(prompt_id)
