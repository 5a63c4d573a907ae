"""deploy/k8s: every manifest valid against the Kubernetes API schemas (kubernetes-validate,
offline), the base and the example overlay as kustomize builds them, and the topology
DESIGN.md §3 asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.manifests import K8S, find, kustomization, pod_spec, render

KUBERNETES = "1.33"
BUILDS = [K8S / "base", K8S / "overlays" / "example"]


@pytest.fixture(params=BUILDS, ids=lambda p: p.relative_to(K8S).as_posix())
def built(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def test_every_file_a_kustomization_lists_exists() -> None:
    for folder in BUILDS:
        spec = kustomization(folder)
        listed = [*spec.get("resources", []), *(p["path"] for p in spec.get("patches", []))]
        assert listed
        for entry in listed:
            assert (folder / entry).exists(), f"{folder.name}: {entry}"


def test_every_built_resource_is_valid_for_kubernetes(built: list[dict[str, Any]]) -> None:
    for resource in built:
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    [web] = find(render(K8S / "base"), "Deployment", "peerlink-web")
    web["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES, strict=True)


def test_exactly_one_beat_replaced_never_rolled(built: list[dict[str, Any]]) -> None:
    [beat] = find(built, "Deployment", "peerlink-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    [container] = pod_spec(beat)["containers"]
    assert container["command"][:4] == ["celery", "-A", "peerlink", "beat"]
    beats = [
        r
        for r in built
        if any("beat" in c.get("command", []) for c in pod_spec(r).get("containers", []))
    ]
    assert beats == [beat]


def test_the_web_is_probed_scaled_and_reached_through_the_ingress(
    built: list[dict[str, Any]],
) -> None:
    [web] = find(built, "Deployment", "peerlink-web")
    [container] = pod_spec(web)["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    [hpa] = find(built, "HorizontalPodAutoscaler", "peerlink-web")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "peerlink-web",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    [service] = find(built, "Service", "peerlink-web")
    assert service["spec"]["selector"] == web["spec"]["template"]["metadata"]["labels"]
    [ingress] = find(built, "Ingress", "peerlink")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "peerlink-web"
    annotations = ingress["metadata"]["annotations"]
    # WebSockets stay open between pings.
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_a_migration_job_runs_migrate(built: list[dict[str, Any]]) -> None:
    [job] = find(built, "Job", "peerlink-migrate")
    [container] = pod_spec(job)["containers"]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_every_pod_runs_as_a_non_root_user_on_a_read_only_root(
    built: list[dict[str, Any]],
) -> None:
    pods = [r for r in built if pod_spec(r)]
    assert len(pods) == 4
    for resource in pods:
        spec = pod_spec(resource)
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_configuration_comes_from_the_config_map_and_the_secret(
    built: list[dict[str, Any]],
) -> None:
    [config] = find(built, "ConfigMap", "peerlink-config")
    assert config["data"]["PEERLINK_ENV"] == "production"
    for resource in (r for r in built if pod_spec(r)):
        for container in pod_spec(resource)["containers"]:
            sources = [next(iter(s.values()))["name"] for s in container["envFrom"]]
            assert sources == ["peerlink-config", "peerlink-secrets"]


def test_web_and_workers_share_the_export_volume(built: list[dict[str, Any]]) -> None:
    for name in ("peerlink-web", "peerlink-worker"):
        [deployment] = find(built, "Deployment", name)
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod_spec(deployment)["volumes"]
            if "persistentVolumeClaim" in v
        ]
        assert claims == ["peerlink-exports"]
    [claim] = find(built, "PersistentVolumeClaim", "peerlink-exports")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_example_overlay_names_its_host_namespace_and_release() -> None:
    built = render(K8S / "overlays" / "example")
    assert {r["metadata"].get("namespace") for r in built if r["kind"] != "Namespace"} == {
        "peerlink"
    }
    [ingress] = find(built, "Ingress", "peerlink")
    assert ingress["spec"]["rules"][0]["host"] == "support.example-health.ca"
    [config] = find(built, "ConfigMap", "peerlink-config")
    assert config["data"]["PEERLINK_PUBLIC_URL"] == "https://support.example-health.ca"
    [web] = find(built, "Deployment", "peerlink-web")
    assert pod_spec(web)["containers"][0]["image"] == "registry.example.org/peerlink:2026.12.1"
    [worker] = find(built, "Deployment", "peerlink-worker")
    assert worker["spec"]["replicas"] == 3


def test_the_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("helmCharts: []\nresources: []\n")
    with pytest.raises(ValueError, match="does not know"):
        render(tmp_path)
