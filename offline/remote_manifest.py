"""A remote manifest (``yaml.v2.ConfigFile`` with a URL) as the plan shows it.

When the file can be had (``offline.schema_source``: cache or download), its objects are shown
as the Kubernetes provider will apply them: each document after the ConfigFile's recorded
``transforms``, the real Python callables, so the Multus image pin is the program's own. The
plan then schema-checks them like any other object. Otherwise the plan writes a reference
naming the URL and why it is not shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml

from offline import render
from offline.engine import RecordedResource, Recording
from offline.schema_source import Obtained

# The thick manifest names this floating image even at a release tag (domain.md, Multus): the
# plan shows what the recorded transforms make of it.
MULTUS_UPSTREAM_IMAGE = "ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick"


def kubernetes_type(obj: dict[str, Any]) -> str:
    """The Pulumi type token of an object: ``kubernetes:apps/v1:DaemonSet``, ``kubernetes:core/v1:ConfigMap``."""
    api_version = str(obj.get("apiVersion", ""))
    return f"kubernetes:{api_version if '/' in api_version else 'core/' + api_version}:{obj.get('kind', '')}"


# Why a remote manifest at another address is not shown.
CUSTOM_URL = "a custom URL; the plan fetches only upstream's files at the stack's versions"


@dataclass(frozen=True)
class Shown:
    text: str  # the manifest file's content
    objects: list[dict[str, Any]]  # to schema-check; none when unavailable
    unavailable: str = ""  # why the objects are not shown


def can_show(got: Obtained | None) -> bool:
    return got is not None and got.content is not None


def show(
    number: str,
    resource: RecordedResource,
    recording: Recording,
    got: Obtained | None,  # None: a custom URL, not fetched
    notes: Sequence[render.TransformNote],
    after: Sequence[str],
) -> Shown:
    """The file for a remote manifest: its objects when it could be had, else a reference saying why."""
    source = str(resource.inputs.get("file", ""))
    if got is None or got.content is None:
        reason = CUSTOM_URL if got is None else got.problem
        return Shown(render.remote_manifest_text(number, resource, source, reason, notes, after), [], reason)
    objects = applied_objects(got.content, resource, recording)
    return Shown(objects_text(number, resource, source, got.content, notes, after, objects), objects)


def applied_objects(content: bytes, resource: RecordedResource, recording: Recording) -> list[dict[str, Any]]:
    """The manifest's objects in file order, each after every transform recorded on ``resource``."""
    objects = []
    for document in yaml.safe_load_all(content):
        if not isinstance(document, dict):
            continue
        props: dict[str, Any] = document
        for transform in recording.transforms.get(resource.urn, []):
            name = f"{resource.name}:{render.describe(render.object_identity(props))}"
            args = pulumi.ResourceTransformArgs(True, kubernetes_type(props), name, props, pulumi.ResourceOptions())
            result = transform(args)
            if isinstance(result, pulumi.ResourceTransformResult):
                props = dict(result.props)
        objects.append(props)
    return objects


def show_local(
    number: str,
    resource: RecordedResource,
    recording: Recording,
    path: str,
    content: bytes,
    notes: Sequence[render.TransformNote],
    after: Sequence[str],
) -> Shown:
    """The file for a local manifest: its objects as the provider applies them (after the
    recorded transforms), so the plan shows the pinned Multus image, not the file's floating one."""
    objects = applied_objects(content, resource, recording)
    return Shown(objects_text(number, resource, path, content, notes, after, objects, local=True), objects)


def objects_text(
    number: str,
    resource: RecordedResource,
    url: str,
    content: bytes,
    notes: Sequence[render.TransformNote],
    after: Sequence[str],
    objects: Sequence[dict[str, Any]],
    *,
    local: bool = False,
) -> str:
    digest = hashlib.sha256(content).hexdigest()
    lines = [
        f"# {number} {resource.name} ({resource.type})",
        f"# A local manifest, applied by the Kubernetes provider from {url}."
        if local
        else f"# A remote manifest, applied by the Kubernetes provider from {url} at deploy time.",
        f"# Shown as read (sha256 {digest}), after the recorded transforms."
        if local
        else f"# Shown as fetched (sha256 {digest}), after the recorded transforms.",
    ]
    if after:
        lines.append(f"# after: {', '.join(after)}")
    lines += [f"# transform {note.name}: {note.effect}" for note in notes]
    return "\n".join(lines) + "\n" + "---\n".join(render.to_yaml(obj) for obj in objects)


def transform_notes(recording: Recording, resource: RecordedResource, *, applied: bool) -> list[render.TransformNote]:
    """What each recorded transform does to a DaemonSet running upstream Multus's image.

    The real transform is called, on a probe. ``applied``: the manifest's objects are shown, after
    the transforms; otherwise the note says what the transform will do when the provider applies
    the manifest, and that it was not fetched, rather than claim a rewrite the plan never made.
    """
    notes = []
    for transform in recording.transforms.get(resource.urn, []):
        probe = {"spec": {"template": {"spec": {"containers": [{"name": "kube-multus", "image": MULTUS_UPSTREAM_IMAGE}]}}}}
        result = transform(pulumi.ResourceTransformArgs(True, "kubernetes:apps/v1:DaemonSet", "probe", probe, pulumi.ResourceOptions()))
        name = getattr(transform, "__qualname__", repr(transform))
        if isinstance(result, pulumi.ResourceTransformResult):
            props: Any = result.props
            image = props["spec"]["template"]["spec"]["containers"][0]["image"]
            effect = (
                f"rewrote the DaemonSet container image {MULTUS_UPSTREAM_IMAGE} (what upstream's manifest names) to {image}"
                if applied
                else f"will rewrite a DaemonSet container image {MULTUS_UPSTREAM_IMAGE} (what upstream's manifest names) to {image}"
                " when the provider applies the manifest (not fetched here, so not shown)"
            )
        else:
            effect = f"leaves a DaemonSet running {MULTUS_UPSTREAM_IMAGE} unchanged"
        notes.append(render.TransformNote(name, effect))
    return notes
