"""The ComfyUI backends a deployment talks to, as configured (``CR_COMFYUI_URLS``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

EXTRA_DATA_KEY: Final = "comfy_recovery"
"""Key under a prompt's ``extra_data`` where we store job id, attempt and part."""


@dataclass(frozen=True)
class BackendRef:
    """One configured backend: a stable id and its base URL."""

    id: str
    url: str

    @property
    def ws_url(self) -> str:
        """The websocket base URL (``ws://host:port``)."""
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def parse_backends(spec: str) -> list[BackendRef]:
    """Parse ``"id=http://host:8188,http://other:8188"`` (ids default to b0, b1, …).

    Raises:
        ValueError: an entry is not an http(s) URL, or an id repeats.
    """
    refs: list[BackendRef] = []
    for index, raw in enumerate(p.strip() for p in spec.split(",")):
        if not raw:
            continue
        ident, _, url = raw.rpartition("=") if "=" in raw.split("://")[0] else ("", "", raw)
        url = url.strip().rstrip("/")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {raw!r}")
        refs.append(BackendRef(ident.strip() or f"b{index}", url))
    if len({r.id for r in refs}) != len(refs):
        raise ValueError(f"backend ids repeat in {spec!r}")
    return refs


def monitor_client_id(backend_id: str) -> str:
    """The websocket clientId the monitor uses for `backend_id`; prompts are posted with it.

    Jobs posted without a client_id get no execution events (API.md §7), so the submitter
    must post with exactly the id the monitor listens on.
    """
    return f"comfy-recovery-monitor-{backend_id}"
