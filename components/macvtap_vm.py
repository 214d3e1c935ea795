"""MacvtapVM: a KubeVirt VMI with a masquerade pod NIC plus one macvtap NIC per attachment.

Each attachment gets its own NetworkAttachmentDefinition, whose resourceName annotation makes
KubeVirt request one device from the macvtap device plugin for the VM's pod.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.config import VM, MacvtapAttachment, nad_name

# macvtap-cni accepts these CNI versions; 0.3.1 is what upstream's examples use (domain.md).
CNI_VERSION = "0.3.1"
POD_INTERFACE = "default"
VM_READY_TIMEOUT_SECONDS = 900


def derive_mac(stack: str, vm_name: str, interface: str) -> str:
    """A stable MAC for an interface: locally administered, unicast, from stack/VM/interface.

    macvtap only keeps a MAC it is given; without one a restarted VMI gets a new random
    address and a new DHCP lease (domain.md).
    """
    digest = hashlib.sha256(f"{stack}/{vm_name}/{interface}".encode()).digest()
    first = (digest[0] & 0b11111100) | 0b00000010  # unicast (bit 0 clear), local (bit 1 set)
    return ":".join(f"{octet:02x}" for octet in (first, *digest[1:6]))


def macvtap_interface_name(index: int) -> str:
    return f"macvtap{index}"


@dataclass(frozen=True)
class PlannedAttachment:
    """One macvtap NIC of a VM, with every derived name resolved."""

    interface: str
    nad_name: str
    network: str
    mac: str
    attachment: MacvtapAttachment


def plan_attachments(stack: str, vm: VM) -> list[PlannedAttachment]:
    planned = []
    for index, attachment in enumerate(vm.macvtap):
        interface = macvtap_interface_name(index)
        planned.append(
            PlannedAttachment(
                interface=interface,
                nad_name=nad_name(vm, index),
                network=attachment.network,
                mac=attachment.mac or derive_mac(stack, vm.name, interface),
                attachment=attachment,
            )
        )
    return planned


def cni_config(planned: PlannedAttachment) -> str:
    """The NAD's ``spec.config``; deviceID is left to Multus and the device plugin."""
    config: dict[str, Any] = {"cniVersion": CNI_VERSION, "name": planned.nad_name, "type": "macvtap"}
    if planned.attachment.mtu is not None:
        config["mtu"] = planned.attachment.mtu
    if planned.attachment.promisc_mode is not None:
        config["promiscMode"] = planned.attachment.promisc_mode
    return json.dumps(config, separators=(",", ":"))


def nad_manifest(planned: PlannedAttachment, namespace: str, resource_name: str) -> dict[str, Any]:
    """``resource_name`` is the device plugin resource the platform advertises for the network."""
    return {
        "metadata": {
            "name": planned.nad_name,
            "namespace": namespace,
            "annotations": {"k8s.v1.cni.cncf.io/resourceName": resource_name},
        },
        "spec": {"config": cni_config(planned)},
    }


def cloud_init_user_data(vm: VM) -> str:
    if vm.user_data is not None:
        return vm.user_data
    document: dict[str, Any] = {"ssh_authorized_keys": list(vm.ssh_authorized_keys)}
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=True, default_flow_style=False)


def cloud_init_network_data(pod_mac: str, attachments: Sequence[PlannedAttachment]) -> str:
    """netplan v2: DHCP on the pod NIC and on every macvtap NIC, each matched by its MAC.

    macvtap has no IPAM: the address comes from the DHCP server on the node's L2 network.
    """
    ethernets: dict[str, Any] = {POD_INTERFACE: {"match": {"macaddress": pod_mac}, "dhcp4": True}}
    for planned in attachments:
        ethernets[planned.interface] = {"match": {"macaddress": planned.mac}, "dhcp4": True}
    return yaml.safe_dump({"version": 2, "ethernets": ethernets}, sort_keys=True, default_flow_style=False)


def vmi_manifest(stack: str, vm: VM, namespace: str) -> dict[str, Any]:
    """The VirtualMachineInstance (kubevirt.io/v1) for ``vm``."""
    attachments = plan_attachments(stack, vm)
    pod_mac = derive_mac(stack, vm.name, POD_INTERFACE)
    interfaces: list[dict[str, Any]] = [{"name": POD_INTERFACE, "masquerade": {}, "macAddress": pod_mac}]
    networks: list[dict[str, Any]] = [{"name": POD_INTERFACE, "pod": {}}]
    for planned in attachments:
        # The core `macvtap: {}` binding was discontinued in KubeVirt v1.3; macvtap is now
        # the network binding plugin registered in the KubeVirt CR.
        interfaces.append({"name": planned.interface, "binding": {"name": "macvtap"}, "macAddress": planned.mac})
        networks.append({"name": planned.interface, "multus": {"networkName": planned.nad_name}})
    return {
        "metadata": {
            "name": vm.name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": vm.name, "app.kubernetes.io/part-of": "kvm-in-a-pod"},
            "annotations": {
                "pulumi.com/waitFor": "condition=Ready",
                "pulumi.com/timeoutSeconds": str(VM_READY_TIMEOUT_SECONDS),
            },
        },
        "spec": {
            "domain": {
                "cpu": {"cores": vm.cpu_cores},
                "resources": {"requests": {"memory": vm.memory}},
                "devices": {
                    "disks": [
                        {"name": "containerdisk", "disk": {"bus": "virtio"}},
                        {"name": "cloudinitdisk", "disk": {"bus": "virtio"}},
                    ],
                    "interfaces": interfaces,
                    "rng": {},
                },
            },
            "networks": networks,
            "terminationGracePeriodSeconds": 30,
            "volumes": [
                {"name": "containerdisk", "containerDisk": {"image": vm.image}},
                {
                    "name": "cloudinitdisk",
                    "cloudInitNoCloud": {
                        "userData": cloud_init_user_data(vm),
                        "networkData": cloud_init_network_data(pod_mac, attachments),
                    },
                },
            ],
        },
    }


@dataclass(frozen=True)
class MacvtapVMArgs:
    vm: VM
    namespace: str
    stack: str
    # network -> the device plugin resource the platform advertises for it (its macvtapPlatform export).
    resource_names: Mapping[str, str]
    # What the VMI must wait for: the KubeVirt CR, the device plugin, node installs.
    platform: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # What the NADs must wait for: Multus, which brings their CRD, when the stack installs it.
    nad_prerequisites: Sequence[pulumi.Resource] = field(default_factory=tuple)


class MacvtapVM(pulumi.ComponentResource):
    """One VM: its NetworkAttachmentDefinitions and its VirtualMachineInstance."""

    nads: list[k8s.apiextensions.CustomResource]
    vmi: k8s.apiextensions.CustomResource
    vmi_name: str
    namespace: str
    macs: dict[str, str]
    console_command: str

    def __init__(self, name: str, args: MacvtapVMArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kvm-in-a-pod:index:MacvtapVM", name, None, opts)
        vm = args.vm
        attachments = plan_attachments(args.stack, vm)
        self.namespace = args.namespace
        self.macs = {planned.interface: planned.mac for planned in attachments}
        self.nads = []
        for planned in attachments:
            manifest = nad_manifest(planned, args.namespace, args.resource_names[planned.network])
            self.nads.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-{planned.interface}-nad",
                    api_version="k8s.cni.cncf.io/v1",
                    kind="NetworkAttachmentDefinition",
                    metadata=manifest["metadata"],
                    spec=manifest["spec"],
                    # Fixed names (no auto-naming) keep inputs deterministic; a replacement must
                    # then delete the old object first.
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=list(args.nad_prerequisites),
                        delete_before_replace=True,
                    ),
                )
            )
        manifest = vmi_manifest(args.stack, vm, args.namespace)
        # `depends_on` given to this component would not reach the VMI: put it here.
        self.vmi = k8s.apiextensions.CustomResource(
            f"{name}-vmi",
            api_version="kubevirt.io/v1",
            kind="VirtualMachineInstance",
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.nads, *args.platform],
                delete_before_replace=True,
            ),
        )
        self.vmi_name = vm.name
        self.console_command = f"virtctl console -n {args.namespace} {vm.name}"
        self.register_outputs(
            {
                "vmiName": vm.name,
                "namespace": args.namespace,
                "macs": self.macs,
                "console": self.console_command,
            }
        )
