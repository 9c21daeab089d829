"""Usage: check-k8s.py MANIFESTS_DIR RENDERED_DIR

Renders each kustomization under MANIFESTS_DIR the way `kubectl apply -k` would (its namespace,
labels, JSON patches and image tags applied to every resource), validates every resource
against the Kubernetes API's schemas with kubernetes-validate, checks the house rules that no
schema states, and writes the rendered resources to RENDERED_DIR for checkov. It needs no
cluster and no kustomize binary, so it accepts only the kustomization fields it can render
exactly and refuses any other.
"""

from __future__ import annotations

import re
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
# JSON patches (RFC 6902) that the kustomization's `patches` apply; no resource of their own.
PATCH_SUFFIX = ".patch.yaml"
RENDERABLE_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "patches", "images"}
LABEL_OPTIONS = {"pairs", "includeTemplates"}
# Where kustomize's `labels` with includeTemplates put them, beyond metadata.labels.
TEMPLATE_LABEL_PATHS = {
    "Deployment": [("spec", "template")],
    "ReplicaSet": [("spec", "template")],
    "DaemonSet": [("spec", "template")],
    "StatefulSet": [("spec", "template")],
    "Job": [("spec", "template")],
    "CronJob": [("spec", "jobTemplate"), ("spec", "jobTemplate", "spec", "template")],
}
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


def add_labels(resource: Resource, labels: list[Resource]) -> None:
    for label in labels:
        holders = [resource]
        if label.get("includeTemplates"):
            for path in TEMPLATE_LABEL_PATHS.get(resource["kind"], []):
                holder = resource
                for key in path:
                    holder = holder.get(key, {})
                holders.append(holder)
            if resource["kind"] == "StatefulSet":
                holders.extend(resource["spec"].get("volumeClaimTemplates", []))
        for holder in holders:
            holder.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])


def targets(resource: Resource, target: Resource) -> bool:
    """kustomize's selector: each field a regular expression matched whole."""
    fields = {"kind": resource["kind"], "name": resource["metadata"]["name"]}
    return all(re.fullmatch(target[field], fields[field]) for field in target)


def apply_json_patch(resource: Resource, operations: list[Resource]) -> None:
    """RFC 6902 `add`: set a member, or put an element before the index ('-' appends)."""
    for operation in operations:
        *parents, last = [
            part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
        ]
        holder: Any = resource
        for part in parents:
            holder = holder[int(part)] if isinstance(holder, list) else holder[part]
        if isinstance(holder, list):
            holder.insert(len(holder) if last == "-" else int(last), operation["value"])
        else:
            holder[last] = operation["value"]


def render(
    resource: Resource, kustomization: Resource, patches: list[tuple[Resource, list[Resource]]]
) -> Resource:
    namespace = kustomization.get("namespace")
    if namespace:
        if resource["kind"] == "Namespace":
            # kustomize renames a Namespace resource to the kustomization's namespace.
            resource["metadata"]["name"] = namespace
        elif resource["kind"] not in CLUSTER_SCOPED_KINDS:
            resource["metadata"]["namespace"] = namespace
    add_labels(resource, kustomization.get("labels", []))
    for target, operations in patches:
        if targets(resource, target):
            apply_json_patch(resource, operations)
    for container in containers(resource):
        set_image(container, kustomization.get("images", []))
    return resource


def restricted_pod(resource: Resource) -> Iterator[object]:
    """What every pod of one image must share: its security context and its volumes."""
    for pod in pod_specs(resource):
        container = pod["containers"][0]
        yield (
            container["image"],
            (
                pod.get("securityContext"),
                pod.get("volumes"),
                container.get("securityContext"),
                container.get("volumeMounts"),
            ),
        )


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


def patch_errors(folder: Path, kustomization: Resource) -> Iterator[str]:
    for label in kustomization.get("labels", []):
        for option in sorted(set(label) - LABEL_OPTIONS):
            yield f"{folder / KUSTOMIZATION}: labels option {option} is not rendered by this check"
    for patch in kustomization.get("patches", []):
        path, target = patch.get("path", ""), patch.get("target", {})
        if set(patch) != {"path", "target"} or not path.endswith(PATCH_SUFFIX):
            yield f"{folder / KUSTOMIZATION}: a patch is a path to a *{PATCH_SUFFIX} and a target"
        elif not target or set(target) - {"kind", "name"}:
            yield f"{folder / KUSTOMIZATION}: patch {path} must target by kind or name only"
        elif any(op.get("op") != "add" for op in json_patch(folder / path)):
            yield f"{folder / path}: only `add` operations are rendered by this check"


def json_patch(path: Path) -> list[Resource]:
    operations = yaml.safe_load(path.read_text())
    return operations if isinstance(operations, list) else [{}]


def check_kustomization(folder: Path, out: Path) -> list[str]:
    kustomization = yaml.safe_load((folder / KUSTOMIZATION).read_text())
    errors = [
        f"{folder / KUSTOMIZATION}: field {field} is not rendered by this check"
        for field in sorted(set(kustomization) - RENDERABLE_FIELDS)
    ]
    errors.extend(patch_errors(folder, kustomization))
    listed = kustomization.get("resources", [])
    manifests = sorted(
        path.name
        for path in folder.glob("*.yaml")
        if path.name != KUSTOMIZATION and not path.name.endswith((TEMPLATE_SUFFIX, PATCH_SUFFIX))
    )
    if sorted(listed) != manifests:
        errors.append(
            f"{folder / KUSTOMIZATION}: resources {sorted(listed)} must list exactly {manifests}"
        )
    patch_files = sorted(path.name for path in folder.glob(f"*{PATCH_SUFFIX}"))
    patched = sorted(patch.get("path", "") for patch in kustomization.get("patches", []))
    if patched != patch_files:
        errors.append(
            f"{folder / KUSTOMIZATION}: patches {patched} must list exactly {patch_files}"
        )
    if errors:
        return errors
    patches = [
        (p["target"], json_patch(folder / p["path"])) for p in kustomization.get("patches", [])
    ]
    # A template is applied by hand (`kubectl apply -f`), so it gets only the namespace.
    as_template = {"namespace": kustomization.get("namespace")}
    templates = sorted(path.name for path in folder.glob(f"*{TEMPLATE_SUFFIX}"))
    out.mkdir(parents=True, exist_ok=True)
    pods: dict[object, set[str]] = {}
    for name in manifests + templates:
        path = folder / name
        resources = [r for r in yaml.safe_load_all(path.read_text()) if r]
        malformed = [r for r in resources if not is_resource(r)]
        if malformed or not resources:
            errors.append(f"{path}: each document needs apiVersion, kind and metadata.name")
            continue
        if len({r["kind"] for r in resources}) != 1:
            errors.append(f"{path}: one resource kind per file")
        if name in templates:
            rendered = [render(r, as_template, []) for r in resources]
        else:
            rendered = [render(r, kustomization, patches) for r in resources]
        errors_before = len(errors)
        for resource in rendered:
            where = f"{path}: {resource['kind']} {resource['metadata'].get('name')}"
            errors.extend(f"{where} {error}" for error in house_rule_errors(resource))
            for image, pod in restricted_pod(resource):
                pods.setdefault(image, set()).add(yaml.safe_dump(pod))
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
    errors.extend(
        f"{folder}: the pods of {image} differ in their security context or volumes"
        for image, shapes in pods.items()
        if len(shapes) > 1
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
