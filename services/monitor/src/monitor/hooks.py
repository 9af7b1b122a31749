"""Backend-restart hooks: what the monitor runs when recovery asks for a backend restart
(`QuarantineBackend.restart_requested`, after a wedge or a stall on that backend).

| hook         | what it does                                                          |
|--------------|-----------------------------------------------------------------------|
| `command`    | ``sh -c <command>`` with ``CR_BACKEND_ID``/``CR_BACKEND_URL``/…       |
| `webhook`    | POST of the request as JSON to a URL                                  |
| `kubernetes` | DELETE of the backend's pod (its controller starts a new one)         |
| `simulator`  | POST /sim/crash to a comfysim backend (a process restart)             |
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, Protocol

import httpx

from contracts.backends import BackendRef
from monitor.config import Settings
from monitor.errors import RestartFailedError

SERVICE_ACCOUNT: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where Kubernetes mounts a pod's service-account token, CA and namespace."""


@dataclass(frozen=True)
class RestartRequest:
    """One restart to do: which backend, why, and the decision that asked for it."""

    backend_id: str
    url: str
    reason: str
    job_id: str
    decision_id: str


class RestartHook(Protocol):
    """Restarts a backend, or raises `RestartFailedError` saying why it could not."""

    name: str

    async def restart(self, request: RestartRequest) -> str:
        """Restart the backend; a short account of what was done."""
        ...


class CommandHook:
    """Runs a shell command; the request is in its environment."""

    name = "command"

    def __init__(self, command: str, timeout_s: float) -> None:
        self.command = command
        self.timeout_s = timeout_s

    async def restart(self, request: RestartRequest) -> str:
        """Run the command; exit status 0 is success."""
        env = {
            **os.environ,
            "CR_BACKEND_ID": request.backend_id,
            "CR_BACKEND_URL": request.url,
            "CR_RESTART_REASON": request.reason,
            "CR_JOB_ID": request.job_id,
        }
        proc = await asyncio.create_subprocess_shell(
            self.command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RestartFailedError(f"command timed out after {self.timeout_s:.0f}s") from None
        text = output.decode(errors="replace").strip()[-300:]
        if proc.returncode != 0:
            raise RestartFailedError(f"command exited with {proc.returncode}: {text}")
        return f"command exited with 0{': ' + text if text else ''}"


class WebhookHook:
    """POSTs the request as JSON; any 2xx reply is success."""

    name = "webhook"

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http

    async def restart(self, request: RestartRequest) -> str:
        """POST the request to the webhook."""
        reply = await _send(self.http, "POST", self.url, json=asdict(request))
        return f"webhook answered {reply.status_code}"


class KubernetesHook:
    """Deletes the backend's pod through the API server, as the monitor's service account.

    Args:
        http: a client for the API server (its CA set when in the cluster).
        api: the API server's base URL.
        namespace: the pods' namespace.
        pod: a pod-name template (``{backend_id}`` is replaced), or "".
        selector: a label-selector template, used when `pod` is empty.
        token_file: the service-account token (read on every call: it rotates).
    """

    name = "kubernetes"

    def __init__(
        self,
        http: httpx.AsyncClient,
        api: str,
        namespace: str,
        *,
        pod: str = "",
        selector: str = "",
        token_file: Path = SERVICE_ACCOUNT / "token",
    ) -> None:
        if not pod and not selector:
            raise ValueError("the kubernetes hook needs a pod name or a label selector template")
        self.http = http
        self.api = api.rstrip("/")
        self.namespace = namespace
        self.pod = pod
        self.selector = selector
        self.token_file = token_file

    async def restart(self, request: RestartRequest) -> str:
        """DELETE the pod by name, or every pod the selector matches."""
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise RestartFailedError(f"no service-account token: {exc}") from exc
        headers = {"Authorization": f"Bearer {token}"}
        pods = f"{self.api}/api/v1/namespaces/{self.namespace}/pods"
        if self.pod:
            name = self.pod.format(backend_id=request.backend_id)
            await _send(self.http, "DELETE", f"{pods}/{name}", headers=headers)
            return f"pod {self.namespace}/{name} deleted"
        selector = self.selector.format(backend_id=request.backend_id)
        reply = await _send(
            self.http, "DELETE", pods, headers=headers, params={"labelSelector": selector}
        )
        items = reply.json().get("items") or []
        if not items:
            raise RestartFailedError(f"no pod in {self.namespace} matches {selector!r}")
        names = ", ".join(str(i.get("metadata", {}).get("name")) for i in items)
        return f"pods deleted in {self.namespace}: {names}"

    @classmethod
    def in_cluster(
        cls, namespace: str, pod: str, selector: str, timeout_s: float
    ) -> KubernetesHook:
        """The hook as a pod sees the API server (environment and mounted service account)."""
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        ca = SERVICE_ACCOUNT / "ca.crt"
        if not namespace:
            path = SERVICE_ACCOUNT / "namespace"
            namespace = path.read_text().strip() if path.exists() else "default"
        http = httpx.AsyncClient(timeout=timeout_s, verify=str(ca) if ca.exists() else True)
        return cls(http, f"https://{host}:{port}", namespace, pod=pod, selector=selector)


class SimulatorHook:
    """Restarts a comfysim backend: POST /sim/crash (queue and worker start afresh)."""

    name = "simulator"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def restart(self, request: RestartRequest) -> str:
        """Ask the simulated backend to restart its process."""
        await _send(self.http, "POST", f"{request.url}/sim/crash", json={"down_s": 0})
        return "simulated backend restarted"


async def is_simulator(http: httpx.AsyncClient, url: str) -> bool:
    """Whether `url` is a comfysim backend (it answers GET /sim/state)."""
    try:
        reply = await http.get(f"{url}/sim/state")
    except httpx.HTTPError:
        return False
    return reply.status_code == 200


async def _send(http: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request; a transport failure or a non-2xx reply is a `RestartFailedError`."""
    try:
        reply = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise RestartFailedError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
    if not reply.is_success:
        raise RestartFailedError(f"{method} {url}: HTTP {reply.status_code} {reply.text[:200]}")
    return reply


def hook_factory(
    settings: Settings, http: httpx.AsyncClient
) -> Callable[[BackendRef], Awaitable[RestartHook | None]]:
    """The restart hook `settings` choose, per backend (``auto``: the simulator's when the
    backend is a comfysim one, else none)."""
    fixed: RestartHook | None = None
    match settings.restart_hook:
        case "command":
            fixed = CommandHook(settings.restart_command, settings.restart_timeout_s)
        case "webhook":
            fixed = WebhookHook(settings.restart_webhook_url, http)
        case "kubernetes":
            fixed = KubernetesHook.in_cluster(
                settings.restart_k8s_namespace,
                settings.restart_k8s_pod,
                settings.restart_k8s_selector,
                settings.restart_timeout_s,
            )
        case "simulator":
            fixed = SimulatorHook(http)
    auto = settings.restart_hook == "auto"

    async def hook_for(ref: BackendRef) -> RestartHook | None:
        if auto:
            return SimulatorHook(http) if await is_simulator(http, ref.url) else None
        return fixed

    return hook_for
