"""Multus (thick plugin): brings the NetworkAttachmentDefinition CRD and the meta-plugin."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import MultusConfig

MULTUS_IMAGE_REPOSITORY = "ghcr.io/k8snetworkplumbingwg/multus-cni"


def pin_multus_images(props: dict[str, Any], image: str) -> dict[str, Any] | None:
    """Rewrite every Multus container image in a DaemonSet's props to ``image``.

    The release's thick manifest still names the floating ``snapshot-thick`` tag
    (domain.md), so a rollout could silently change versions. Returns None when nothing
    changes, as Pulumi transforms expect.
    """
    pod_spec = props.get("spec", {}).get("template", {}).get("spec", {})
    containers = [*pod_spec.get("containers", []), *pod_spec.get("initContainers", [])]
    if not any(str(c.get("image", "")).startswith(MULTUS_IMAGE_REPOSITORY + ":") and c.get("image") != image for c in containers):
        return None
    pinned = copy.deepcopy(props)
    pinned_pod = pinned["spec"]["template"]["spec"]
    for field in ("containers", "initContainers"):
        for container in pinned_pod.get(field, []):
            if str(container.get("image", "")).startswith(MULTUS_IMAGE_REPOSITORY + ":"):
                container["image"] = image
    return pinned


class Multus(pulumi.ComponentResource):
    """Applies the Multus thick-plugin manifest at a release tag with its image pinned.

    ``manifest`` is what NetworkAttachmentDefinitions wait on (it creates their CRD).
    """

    manifest: k8s.yaml.v2.ConfigFile
    image: str

    def __init__(self, name: str, config: MultusConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kvm-in-a-pod:index:Multus", name, None, opts)
        self.image = config.pinned_image
        image = self.image

        def pin_images(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
            if args.type_ != "kubernetes:apps/v1:DaemonSet":
                return None
            pinned = pin_multus_images(dict(args.props), image)
            return None if pinned is None else pulumi.ResourceTransformResult(pinned, args.opts)

        # `transforms` (not the older `transformations`) reach the children of packaged
        # components such as yaml.v2.ConfigFile (pulumi docs, "Resource option: transforms").
        self.manifest = k8s.yaml.v2.ConfigFile(
            f"{name}-manifest",
            file=config.manifest_source,
            opts=pulumi.ResourceOptions(parent=self, transforms=[pin_images]),
        )
        self.register_outputs({"image": self.image, "manifest": config.manifest_source})
