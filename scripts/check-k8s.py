"""Usage: check-k8s.py MANIFESTS_DIR RENDERED_DIR

Renders each kustomization under MANIFESTS_DIR the way `kubectl apply -k` would (its namespace
and image tag set on every resource), validates every resource against the Kubernetes API's
schemas with kubernetes-validate, checks the house rules that no schema states, and writes the
rendered resources to RENDERED_DIR for checkov. It needs no cluster and no kustomize binary, so
it accepts only the kustomization fields it can render exactly and refuses any other.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

# The newest Kubernetes minor that the pinned kubernetes-validate ships schemas for.
KUBERNETES_VERSION = "1.37"
KUSTOMIZATION = "kustomization.yaml"
# Templates to fill in outside the repository: validated and scanned, never applied.
TEMPLATE_SUFFIX = ".example.yaml"
RENDERABLE_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
)
LONG_RUNNING_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")

Resource = dict[str, Any]


def is_resource(document: object) -> bool:
    return (
        isinstance(document, dict)
        and {"apiVersion", "kind"} <= document.keys()
        and isinstance(document.get("metadata"), dict)
        and "name" in document["metadata"]
    )


def workload_spec(resource: Resource) -> Resource:
    """The spec that holds the pod template: a CronJob's is inside its job template."""
    spec: Resource = resource.get("spec", {})
    return spec["jobTemplate"]["spec"] if resource["kind"] == "CronJob" else spec


def pod_specs(resource: Resource) -> Iterator[Resource]:
    spec = workload_spec(resource)
    if "template" in spec:
        yield spec["template"]["spec"]


def containers(resource: Resource) -> Iterator[Resource]:
    for pod in pod_specs(resource):
        yield from pod.get("initContainers", [])
        yield from pod["containers"]


def set_image(container: Resource, images: list[dict[str, str]]) -> None:
    for image in images:
        if container["image"] != image["name"]:
            continue
        name = image.get("newName", image["name"])
        if "digest" in image:
            container["image"] = f"{name}@{image['digest']}"
        else:
            container["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name


def render(resource: Resource, kustomization: Resource) -> Resource:
    namespace = kustomization.get("namespace")
    if namespace:
        if resource["kind"] == "Namespace":
            # kustomize renames a Namespace resource to the kustomization's namespace.
            resource["metadata"]["name"] = namespace
        elif resource["kind"] not in CLUSTER_SCOPED_KINDS:
            resource["metadata"]["namespace"] = namespace
    for container in containers(resource):
        set_image(container, kustomization.get("images", []))
    return resource


def house_rule_errors(resource: Resource) -> Iterator[str]:
    labels = resource["metadata"].get("labels", {})
    for label in REQUIRED_LABELS:
        if label not in labels:
            yield f"has no label {label}"
    for pod in pod_specs(resource):
        # A one-off command has no server to probe; a deadline is what stops it hanging.
        runs_once = resource["kind"] not in LONG_RUNNING_KINDS
        if runs_once and "activeDeadlineSeconds" not in workload_spec(resource):
            yield "runs to completion without activeDeadlineSeconds to bound it"
        if "securityContext" not in pod:
            yield "has a pod without a securityContext"
    for container in containers(resource):
        if "securityContext" not in container:
            yield f"container {container['name']} has no securityContext"
        if resource["kind"] in LONG_RUNNING_KINDS:
            for probe in PROBES:
                if probe not in container:
                    yield f"container {container['name']} has no {probe}"


def check_kustomization(folder: Path, out: Path) -> list[str]:
    kustomization = yaml.safe_load((folder / KUSTOMIZATION).read_text())
    errors = [
        f"{folder / KUSTOMIZATION}: field {field} is not rendered by this check"
        for field in sorted(set(kustomization) - RENDERABLE_FIELDS)
    ]
    listed = kustomization.get("resources", [])
    manifests = sorted(
        path.name
        for path in folder.glob("*.yaml")
        if path.name != KUSTOMIZATION and not path.name.endswith(TEMPLATE_SUFFIX)
    )
    if sorted(listed) != manifests:
        errors.append(
            f"{folder / KUSTOMIZATION}: resources {sorted(listed)} must list exactly {manifests}"
        )
    templates = sorted(path.name for path in folder.glob(f"*{TEMPLATE_SUFFIX}"))
    out.mkdir(parents=True, exist_ok=True)
    for name in manifests + templates:
        path = folder / name
        resources = [r for r in yaml.safe_load_all(path.read_text()) if r]
        malformed = [r for r in resources if not is_resource(r)]
        if malformed or not resources:
            errors.append(f"{path}: each document needs apiVersion, kind and metadata.name")
            continue
        if len({r["kind"] for r in resources}) != 1:
            errors.append(f"{path}: one resource kind per file")
        rendered = [render(r, kustomization) for r in resources]
        errors_before = len(errors)
        for resource in rendered:
            where = f"{path}: {resource['kind']} {resource['metadata'].get('name')}"
            errors.extend(f"{where} {error}" for error in house_rule_errors(resource))
            try:
                kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
            except (
                kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError,
            ) as error:
                errors.append(f"{where}: {error.message}")
        (out / name).write_text(yaml.safe_dump_all(rendered, sort_keys=False))
        if len(errors) == errors_before:
            print(
                f"{path}: {len(rendered)} x {resources[0]['kind']}, valid for {KUBERNETES_VERSION}"
            )
    return errors


def main(manifests_dir: Path, rendered_dir: Path) -> int:
    shutil.rmtree(rendered_dir, ignore_errors=True)
    folders = sorted(path.parent for path in manifests_dir.rglob(KUSTOMIZATION))
    orphans = sorted(
        str(path) for path in manifests_dir.rglob("*.yaml") if path.parent not in folders
    )
    errors = [f"{path}: not in a folder with a {KUSTOMIZATION}" for path in orphans]
    # Only *.yaml files are rendered; a *.yml one would silently go unchecked.
    errors.extend(f"{path}: name it *.yaml" for path in sorted(manifests_dir.rglob("*.yml")))
    for folder in folders:
        errors.extend(check_kustomization(folder, rendered_dir / folder.relative_to(manifests_dir)))
    for error in errors:
        print(error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
