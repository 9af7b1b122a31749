"""``<data>/stack.json``: what a running ``comfy-recovery up`` (or demo) serves, and where.

Written by the stack that owns the data directory, removed only by that same process, and
read by `demo` and the other commands to find a stack started on moved ports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STACK_FILE = "stack.json"


def path_of(data_dir: Path) -> Path:
    """Where the stack file of `data_dir` lives."""
    return data_dir / STACK_FILE


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rpartition(")")[2].split()[0] != "Z"
        except OSError:
            return False
    return True


def read(data_dir: Path) -> dict[str, Any] | None:
    """The stack file's content, or None when absent or unreadable."""
    try:
        data = json.loads(path_of(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def live(data_dir: Path) -> dict[str, Any] | None:
    """The stack described in `data_dir` if the process that wrote it is still alive."""
    data = read(data_dir)
    if data is None or not pid_alive(int(data.get("pid", 0))):
        return None
    return data


def write(data_dir: Path, description: dict[str, Any]) -> None:
    """Publish what this process runs (atomically: readers never see half a file)."""
    target = path_of(data_dir)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(description))
    tmp.replace(target)


def remove_if_mine(data_dir: Path) -> None:
    """Delete the stack file only if this process wrote it (never another live stack's)."""
    data = read(data_dir)
    if data is not None and data.get("pid") == os.getpid():
        path_of(data_dir).unlink(missing_ok=True)
