"""The what-if replay page: runs the installed ``comfy-recovery replay --json`` (the same
command, the same functions and the same figures; the console sits below the CLI, so it
runs it rather than importing it) and shows its comparison. Read-only, like the command."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from submitter.api.deps import ApiDeps, Deps
from submitter.api.ui import auth
from submitter.api.ui.render import page

router = APIRouter(
    prefix="/ui", include_in_schema=False, dependencies=[Depends(auth.require_login)]
)
COMMAND: Final = "comfy-recovery"
TIMEOUT_S: Final = 300.0
EXIT_USAGE: Final = 2


class ReplayError(Exception):
    """The replay could not run or refused its input; `status` is the HTTP status to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@router.get("/replay")
async def replay_form(request: Request) -> HTMLResponse:
    """The what-if form: a policy, a time window."""
    return page(request, "replay.html", report=None, error="", form={})


@router.post("/replay")
async def replay(request: Request, deps: Deps) -> HTMLResponse:
    """Replay the recorded failures under the policy given and show the comparison."""
    form = await auth.form_fields(request)
    try:
        report = await run_replay(deps, form)
    except ReplayError as exc:
        return page(request, "replay.html", exc.status, report=None, error=str(exc), form=form)
    return page(request, "replay.html", report=report, error="", form=form)


def command() -> str | None:
    """The CLI beside this interpreter (same environment), else on PATH."""
    sibling = Path(sys.executable).parent / COMMAND
    return str(sibling) if sibling.exists() else shutil.which(COMMAND)


def arguments(form: dict[str, str], policy_file: str) -> list[str]:
    """The command line for the form's fields."""
    args = ["replay", "--policy", policy_file, "--json"]
    for name in ("since", "until"):
        if form.get(name, "").strip():
            args += [f"--{name}", form[name].strip()]
    if form.get("mode") == "as_default":
        args.append("--as-default")
    return args


async def run_replay(deps: ApiDeps, form: dict[str, str]) -> dict[str, Any]:
    """The command's JSON report.

    Raises:
        ReplayError: 422 when the command refuses the input (its message), 503 when it is
        not installed, fails or takes longer than `TIMEOUT_S`.
    """
    executable = command()
    if executable is None:
        raise ReplayError(503, f"the {COMMAND} command is not installed beside the API")
    with tempfile.TemporaryDirectory() as scratch:
        policy_file = Path(scratch) / "policy.json"
        policy_file.write_text(form.get("policy", "") or "{}")
        env = {**os.environ, "CR_NATS_URL": deps.client.bus.settings.url}
        process = await asyncio.create_subprocess_exec(
            executable,
            *arguments(form, str(policy_file)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise ReplayError(503, f"the replay took longer than {TIMEOUT_S:.0f} s") from exc
    said = _error_line(err.decode(errors="replace"), str(policy_file))
    if process.returncode == EXIT_USAGE:
        raise ReplayError(422, said or "the replay refused its input")
    if process.returncode != 0:
        raise ReplayError(503, said or f"the replay failed (exit {process.returncode})")
    report: dict[str, Any] = json.loads(out)
    return report


def _error_line(stderr: str, policy_file: str) -> str:
    """The command's one-line error, the scratch file's name replaced by 'the policy'."""
    lines = [line for line in stderr.splitlines() if "error:" in line]
    text = lines[-1].partition("error:")[2].strip() if lines else ""
    return text.replace(policy_file, "the policy")
