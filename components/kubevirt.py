"""KubeVirt: the operator manifest for a release, then the KubeVirt CR that configures it."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import KubeVirtConfig
from components.ownership import owned

# The CR is Available once every KubeVirt component is deployed; on a fresh cluster that
# includes pulling virt-api/controller/handler images, so allow well beyond the default 10 min.
KUBEVIRT_READY_TIMEOUT_SECONDS = 1200


def kubevirt_cr_spec(config: KubeVirtConfig) -> dict[str, Any]:
    """The ``spec`` of the KubeVirt CR.

    macvtap is a network binding plugin since the core binding was discontinued in v1.3.0;
    it is registered with ``domainAttachmentType: tap`` (domain.md).
    """
    developer: dict[str, Any] = {}
    if config.use_emulation:
        developer["useEmulation"] = True
    if config.needs_binding_plugin_feature_gate:
        developer["featureGates"] = ["NetworkBindingPlugins"]
    configuration: dict[str, Any] = {
        "network": {"binding": {"macvtap": {"domainAttachmentType": "tap"}}},
    }
    if developer:
        configuration["developerConfiguration"] = developer
    return {
        "configuration": configuration,
        "imagePullPolicy": "IfNotPresent",
    }


def kubevirt_cr_metadata() -> dict[str, Any]:
    return {
        "name": "kubevirt",
        "namespace": "kubevirt",
        "annotations": {
            # Custom resources are not awaited unless told what "ready" means.
            "pulumi.com/waitFor": "condition=Available",
            "pulumi.com/timeoutSeconds": str(KUBEVIRT_READY_TIMEOUT_SECONDS),
        },
    }


class KubeVirt(pulumi.ComponentResource):
    """Installs KubeVirt and registers the macvtap network binding plugin.

    ``cr`` is what consumers wait on: it is awaited until its ``Available`` condition.
    """

    operator: k8s.yaml.v2.ConfigFile
    cr: k8s.apiextensions.CustomResource
    version: str

    def __init__(self, name: str, config: KubeVirtConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kvm-in-a-pod:index:KubeVirt", name, None, opts)
        self.version = config.version
        self.operator = k8s.yaml.v2.ConfigFile(
            f"{name}-operator",
            file=config.operator_manifest_source,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # yaml.v2.ConfigFile is a remote component: the CRD it applies is only ordered before
        # the CR through this explicit edge.
        self.cr = k8s.apiextensions.CustomResource(
            f"{name}-cr",
            api_version="kubevirt.io/v1",
            kind="KubeVirt",
            metadata=owned(kubevirt_cr_metadata()),
            spec=kubevirt_cr_spec(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.operator]),
        )
        self.register_outputs({"version": self.version, "operatorManifest": config.operator_manifest_source})
