"""MacvtapNetworks: the NetworkAttachmentDefinitions a set of VMs needs, each registered once.

Upstream's macvtap examples use one NAD per L2 network, shared by every VM on it. Here one NAD
serves every attachment with the same network and settings (MTU, promiscMode): it is named
after the network, plus a short digest of the settings where any are given
(``components.config.nad_name``). Its ``k8s.v1.cni.cncf.io/resourceName`` annotation makes
KubeVirt request one macvtap device from the device plugin per VM NIC that uses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import VM, MacvtapAttachment, nad_name, nad_settings
from components.ownership import owned

# macvtap-cni accepts these CNI versions; 0.3.1 is what upstream's examples use (domain.md).
CNI_VERSION = "0.3.1"


@dataclass(frozen=True)
class NadSpec:
    """One shared NAD: its name, its network and the settings every user of it has."""

    name: str
    network: str
    settings: Mapping[str, Any]


def nad_for(attachment: MacvtapAttachment) -> NadSpec:
    return NadSpec(nad_name(attachment), attachment.network, nad_settings(attachment))


def nads_for(vms: Iterable[VM]) -> list[NadSpec]:
    """Every NAD the VMs need, once each, by name (registration order does not vary)."""
    found: dict[str, NadSpec] = {}
    for vm in vms:
        for attachment in vm.macvtap:
            nad = nad_for(attachment)
            found.setdefault(nad.name, nad)
    return [found[name] for name in sorted(found)]


def cni_config(nad: NadSpec) -> str:
    """The NAD's ``spec.config``; deviceID is left to Multus and the device plugin."""
    config: dict[str, Any] = {"cniVersion": CNI_VERSION, "name": nad.name, "type": "macvtap", **nad.settings}
    return json.dumps(config, separators=(",", ":"))


def nad_manifest(nad: NadSpec, namespace: str, resource_name: str) -> dict[str, Any]:
    """``resource_name`` is the device plugin resource the platform advertises for the network."""
    return {
        "metadata": {
            "name": nad.name,
            "namespace": namespace,
            "annotations": {"k8s.v1.cni.cncf.io/resourceName": resource_name},
        },
        "spec": {"config": cni_config(nad)},
    }


def nad_configs_digest(configs: Mapping[str, str]) -> str:
    """A short digest of the ``spec.config`` of a VM's NADs, by NAD name.

    Multus and the macvtap CNI read a NAD only when the VM's pod is created, so a VM carries
    this digest: a NAD change then changes exactly the VMs that use it.
    """
    canonical = json.dumps(dict(sorted(configs.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MacvtapNetworksArgs:
    vms: Sequence[VM]
    namespace: str
    # network -> the device plugin resource the platform advertises for it (its macvtapPlatform export).
    resource_names: Mapping[str, str]
    # What the NADs must wait for: Multus, which brings their CRD, when the stack installs it.
    prerequisites: Sequence[pulumi.Resource] = field(default_factory=tuple)


class MacvtapNetworks(pulumi.ComponentResource):
    """The shared NADs of a set of VMs, in the VMs' namespace."""

    nads: dict[str, k8s.apiextensions.CustomResource]  # by NAD name
    configs: dict[str, str]  # NAD name -> spec.config

    def __init__(self, name: str, args: MacvtapNetworksArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kvm-in-a-pod:index:MacvtapNetworks", name, None, opts)
        self.nads = {}
        self.configs = {}
        for nad in nads_for(args.vms):
            manifest = nad_manifest(nad, args.namespace, args.resource_names[nad.network])
            self.configs[nad.name] = manifest["spec"]["config"]
            self.nads[nad.name] = k8s.apiextensions.CustomResource(
                f"{name}-{nad.name}",
                api_version="k8s.cni.cncf.io/v1",
                kind="NetworkAttachmentDefinition",
                metadata=owned(manifest["metadata"]),
                spec=manifest["spec"],
                # Fixed names (no auto-naming) keep inputs deterministic; a replacement must
                # then delete the old object first.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.prerequisites), delete_before_replace=True),
            )
        self.register_outputs({"nads": sorted(self.nads)})
