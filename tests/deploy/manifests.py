"""Reading deploy/: the Kubernetes base and overlays as kustomize would build them, for the
checks in this folder.

A small renderer, not kustomize: this machine has no kustomize binary (nor a cluster), and
no maintained Python library builds kustomizations. It does what our kustomizations use
(resources, namespace, images, replicas, strategic-merge patches of ConfigMaps and JSON 6902
patches of a target) and refuses anything else, so that a new kustomize feature in deploy/
needs this renderer to learn it before the checks pass.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KNOWN = {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches", "labels"}

Resource = dict[str, Any]


def load_documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization(folder: Path) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((folder / "kustomization.yaml").read_text())
    return found


def render(folder: Path) -> list[Resource]:
    spec = kustomization(folder)
    unknown = set(spec) - KNOWN
    if unknown:
        raise ValueError(f"{folder}: the renderer does not know {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        resources += render(path) if path.is_dir() else load_documents(path)
    resources = copy.deepcopy(resources)
    for patch in spec.get("patches", []):
        _patch(resources, folder / patch["path"], patch.get("target"))
    for image in spec.get("images", []):
        for container in _containers(resources):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    for replicas in spec.get("replicas", []):
        [target] = [r for r in resources if r["metadata"]["name"] == replicas["name"]]
        target["spec"]["replicas"] = replicas["count"]
    for label in spec.get("labels", []):
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] != "Namespace":
                resource["metadata"]["namespace"] = spec["namespace"]
    return resources


def _patch(resources: list[Resource], path: Path, target: dict[str, str] | None) -> None:
    if target is not None:
        [resource] = find(resources, target["kind"], target["name"])
        patched = jsonpatch.apply_patch(resource, yaml.safe_load(path.read_text()))
        resource.clear()
        resource.update(patched)
        return
    [change] = load_documents(path)
    if change["kind"] != "ConfigMap":
        raise ValueError(f"{path}: the renderer merges ConfigMap patches only")
    [resource] = find(resources, "ConfigMap", change["metadata"]["name"])
    resource["data"].update(change["data"])


def find(resources: list[Resource], kind: str, name: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]


def _containers(resources: list[Resource]) -> list[dict[str, Any]]:
    return [
        container
        for resource in resources
        for container in pod_spec(resource).get("containers", [])
    ]


def pod_spec(resource: Resource) -> dict[str, Any]:
    template = resource.get("spec", {}).get("template", {})
    spec: dict[str, Any] = template.get("spec", {})
    return spec
