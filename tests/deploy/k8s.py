"""Helpers of the deploy tests: the files under deploy/k8s, the services' settings, and a
small NetworkPolicy evaluator. Pure functions over parsed YAML; no cluster, no network."""

from __future__ import annotations

import functools
import importlib
import ipaddress
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as _kubernetes_validate_utils
from pydantic import AliasChoices, AliasPath, BaseModel, SecretBytes, SecretStr
from pydantic_settings import BaseSettings

# kubernetes-validate reads and parses its schema files (megabytes of JSON) on every call;
# they never change during a run, so read each once (7x faster, same results).
_kubernetes_validate_utils.schema_contents = functools.cache(
    _kubernetes_validate_utils.schema_contents
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
NAMESPACE = "comfy-recovery"
IMAGE = "comfy-recovery"
SERVICES = ("submitter", "monitor", "classifier", "recovery", "analytics")

# YAML under deploy/k8s that is not a Kubernetes object, and why.
NOT_MANIFESTS: dict[str, str] = {
    "kustomization.yaml": "kustomize configuration (checked by building it), not an object",
    "nats/values.yaml": "values of the NATS Helm chart (checked against its own schema)",
}
# Kinds with no schema in kubernetes-validate, checked against their own JSON Schema.
CUSTOM_KINDS = {"ClickHouseInstallation": "tests/deploy/clickhouseinstallation.schema.yaml"}

# Environment variables of our containers that no Settings class reads, and who does.
RUNTIME_ENV = {
    "NVIDIA_VISIBLE_DEVICES": "the NVIDIA container runtime (which GPUs the container sees)",
    "NVIDIA_DRIVER_CAPABILITIES": "the NVIDIA container runtime (utility: NVML, no CUDA)",
}


# ---------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Doc:
    """One YAML document of a file under deploy/k8s."""

    path: Path
    index: int
    obj: dict[str, Any]

    @property
    def rel(self) -> str:
        return self.path.relative_to(K8S).as_posix()

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name"))

    @property
    def id(self) -> str:
        return f"{self.rel}#{self.index}:{self.kind}/{self.name}"


def yaml_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def is_manifest_file(path: Path) -> bool:
    rel = path.relative_to(K8S).as_posix()
    return path.name != "kustomization.yaml" and rel not in NOT_MANIFESTS


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open() as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def manifest_docs() -> list[Doc]:
    docs = []
    for path in yaml_files():
        if is_manifest_file(path):
            docs += [Doc(path, i, d) for i, d in enumerate(load_all(path))]
    return docs


def kustomization_dirs() -> list[Path]:
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


# ---------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Pod:
    """A pod template found in a workload (or in a ClickHouseInstallation pod template)."""

    owner: Doc
    labels: dict[str, str]
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return self.owner.id


def pods(docs: list[Doc]) -> list[Pod]:
    found = []
    for doc in docs:
        spec = doc.obj.get("spec", {})
        if doc.kind in ("Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet"):
            template = spec["template"]
            found.append(Pod(doc, template["metadata"].get("labels", {}), template["spec"]))
        elif doc.kind == "CronJob":
            template = spec["jobTemplate"]["spec"]["template"]
            found.append(Pod(doc, template["metadata"].get("labels", {}), template["spec"]))
        elif doc.kind == "Pod":
            found.append(Pod(doc, doc.obj["metadata"].get("labels", {}), spec))
        elif doc.kind == "ClickHouseInstallation":
            for template in spec.get("templates", {}).get("podTemplates", []):
                labels = template.get("metadata", {}).get("labels", {})
                found.append(Pod(doc, labels, template["spec"]))
    return found


def containers(pod: Pod) -> list[dict[str, Any]]:
    return list(pod.spec.get("initContainers", [])) + list(pod.spec["containers"])


def service_of(container: dict[str, Any]) -> str | None:
    """The comfy-recovery service a container runs (`python -m <svc>`), or None."""
    image = str(container.get("image", ""))
    if image.split("/")[-1].split(":")[0] != IMAGE:
        return None
    args = container.get("args") or []
    return str(args[0]) if args else "submitter"  # the image's CMD


def by_kind_name(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
    return {(d.kind, d.name): d for d in docs}


def container_env(container: dict[str, Any], docs: list[Doc]) -> dict[str, str | None]:
    """Every environment variable the container gets, with its value where the manifests
    say it (None for Secret references and the downward API)."""
    objects = by_kind_name(docs)
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = objects[("ConfigMap", source["configMapRef"]["name"])]
            env.update({prefix + k: str(v) for k, v in ref.obj.get("data", {}).items()})
        elif "secretRef" in source:
            ref = objects[("Secret", source["secretRef"]["name"])]
            keys = {**ref.obj.get("data", {}), **ref.obj.get("stringData", {})}
            env.update({prefix + k: None for k in keys})
    for var in container.get("env", []):
        value = var.get("value")
        if value is None and "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            value = objects[("ConfigMap", ref["name"])].obj["data"][ref["key"]]
        env[var["name"]] = None if value is None else str(value)
    return env


# ---------------------------------------------------------------------- settings


@dataclass(frozen=True)
class EnvSetting:
    """One environment variable a Settings class reads."""

    name: str
    required: bool
    secret: bool
    path: str  # dotted field path, for messages


def _types_of(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [t for a in args for t in _types_of(a)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _types_of(args[0])
    return [annotation]


def _model_type(annotation: Any) -> type[BaseModel] | None:
    for kind in _types_of(annotation):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _alias_names(alias: Any) -> list[str]:
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [n for choice in alias.choices for n in _alias_names(choice)]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    return []


def settings_env(
    cls: type[BaseModel], prefix: str | None = None, path: str = ""
) -> Iterator[EnvSetting]:
    """The environment names `cls` reads, derived from the class itself.

    - a field reads ``<env_prefix><field>``, or its ``validation_alias``/``alias`` names
      (``AliasChoices``: every choice) with no prefix;
    - a nested ``BaseSettings`` field built by its default factory reads its own names
      (its own ``env_prefix``: ``CR_NATS_*``); with ``env_nested_delimiter`` the parent
      also reads ``<prefix><field><delim><sub>``;
    - a nested plain model reads ``<prefix><field>`` (JSON), and with a delimiter its
      sub-fields too.
    Names are upper-cased unless the class is case-sensitive.
    """
    config = getattr(cls, "model_config", {})
    own_prefix = config.get("env_prefix", "") if issubclass(cls, BaseSettings) else ""
    prefix = own_prefix if prefix is None else prefix
    delimiter = config.get("env_nested_delimiter")
    upper = (lambda s: s) if config.get("case_sensitive") else str.upper
    for name, info in cls.model_fields.items():
        here = f"{path}{name}"
        aliases = _alias_names(info.validation_alias) or _alias_names(info.alias)
        names = aliases or [f"{prefix}{name}"]
        nested = _model_type(info.annotation)
        secret = any(k in (SecretStr, SecretBytes) for k in _types_of(info.annotation))
        if nested is not None and issubclass(nested, BaseSettings):
            if info.is_required():  # no default factory: the parent must be given it
                yield EnvSetting(upper(names[0]), True, secret, here)
            yield from settings_env(nested, path=f"{here}.")
            if delimiter:
                for sub in settings_env(nested, prefix="", path=f"{here}."):
                    yield EnvSetting(
                        upper(f"{names[0]}{delimiter}{sub.name}"), False, sub.secret, sub.path
                    )
            continue
        for env in names:
            yield EnvSetting(upper(env), info.is_required(), secret, here)
        if nested is not None and delimiter:
            for sub in settings_env(nested, prefix="", path=f"{here}."):
                yield EnvSetting(
                    upper(f"{names[0]}{delimiter}{sub.name}"), False, sub.secret, sub.path
                )


def settings_class(service: str) -> type[BaseSettings] | None:
    """`<service>.config.Settings`, or None while that module does not exist yet."""
    try:
        module = importlib.import_module(f"{service}.config")
    except ModuleNotFoundError as exc:
        if exc.name in (service, f"{service}.config"):
            return None
        raise
    cls: type[BaseSettings] = module.Settings
    return cls


def pending_settings() -> dict[str, str]:
    """deploy/k8s/pending-settings.txt: ``NAME  # why`` per line."""
    pending = {}
    for raw in (K8S / "pending-settings.txt").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, why = line.partition("#")
        pending[name.strip()] = why.strip()
    return pending


# ------------------------------------------------------------------ network policy


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (namespace and labels) or an address outside."""

    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None

    @property
    def ns_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace} if self.namespace else {}


def pod(name: str, namespace: str = NAMESPACE, **labels: str) -> Peer:
    return Peer(namespace, {"app.kubernetes.io/name": name, **labels})


def outside(ip: str) -> Peer:
    return Peer(ip=ip)


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:  # codespell:ignore
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(rule_peer: dict[str, Any], peer: Peer, policy_ns: str) -> bool:
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False  # pod traffic is matched by selectors (ipBlock: cluster-external)
        block = rule_peer["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except", []))
    if peer.ip is not None:
        return False
    if "namespaceSelector" in rule_peer:
        if not selector_matches(rule_peer["namespaceSelector"], peer.ns_labels):
            return False
    elif peer.namespace != policy_ns:
        return False
    return selector_matches(rule_peer.get("podSelector", {}), peer.labels)


def _port_matches(rule_ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        if not isinstance(p["port"], int):
            raise AssertionError(f"named port {p['port']!r}: use numbers in policies")
        if p["port"] <= port <= p.get("endPort", p["port"]):
            return True
    return False


def _allowed(
    policies: list[dict[str, Any]], subject: Peer, other: Peer, port: int, protocol: str, kind: str
) -> bool:
    """Whether `subject` (a pod of the namespace) may send (Egress) to or receive (Ingress)
    from `other` on `port`, by the policies that select `subject`."""
    direction, peers_key = ("egress", "to") if kind == "Egress" else ("ingress", "from")
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == subject.namespace
        and selector_matches(p["spec"]["podSelector"], subject.labels)
        and kind in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True  # not isolated
    for policy in selecting:
        ns = policy["metadata"].get("namespace", NAMESPACE)
        for rule in policy["spec"].get(direction, []) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(r, other, ns) for r in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def can_connect(
    policies: list[dict[str, Any]], src: Peer, dst: Peer, port: int, protocol: str = "TCP"
) -> bool:
    """Whether a connection from `src` to `dst:port` is allowed by `policies` (only pods of
    this namespace are subject to them; other namespaces and outside addresses are not)."""
    if src.namespace == NAMESPACE and not _allowed(policies, src, dst, port, protocol, "Egress"):
        return False
    return not (
        dst.namespace == NAMESPACE and not _allowed(policies, dst, src, port, protocol, "Ingress")
    )
