"""The platform part of a stack: KubeVirt, Multus, the macvtap device plugin and (ssh mode) the node installs.

An `all` stack puts its VMs on it; a `platform` stack exports it (``macvtapPlatform``) for `vms` stacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from components import node_probe
from components.config import StackConfig
from components.device_plugin import MacvtapDevicePlugin
from components.kubevirt import KubeVirt
from components.multus import Multus
from components.node_cni import NodeCniInstall, NodeCniInstallArgs


@dataclass(frozen=True)
class Platform:
    kubevirt: KubeVirt
    multus: Multus | None
    device_plugin: MacvtapDevicePlugin
    node_install: NodeCniInstall | None

    @property
    def vm_prerequisites(self) -> list[pulumi.Resource]:
        """What a VM object waits for: the KubeVirt CR, the device plugin and every node install."""
        installs = list(self.node_install.installs.values()) if self.node_install else []
        return [self.kubevirt.cr, self.device_plugin.daemonset, *installs]

    @property
    def nad_prerequisites(self) -> list[pulumi.Resource]:
        """What a NAD waits for: Multus, which brings the NAD CRD, when the stack installs it."""
        return [self.multus.manifest] if self.multus else []


def minimum_lower_device_mtus(config: StackConfig) -> tuple[tuple[str, int], ...]:
    """Per lower device, the MTU its nodes must give it: what its networks say they carry
    (``lowerDevices[].mtu``) and what this stack's NICs on them ask for, whichever is more.

    A `platform` stack knows no NICs, only the networks' own ``mtu``; a `vms` stack's NICs are
    checked against that at config time (``check_vm_networks``).
    """
    device_of = {device.name: device.lower_device for device in config.macvtap.lower_devices}
    minimum: dict[str, int] = {}
    wanted = [(device.lower_device, device.mtu) for device in config.macvtap.lower_devices]
    wanted += [(device_of[attachment.network], attachment.mtu) for vm in config.vms for attachment in vm.macvtap]
    for device, mtu in wanted:
        if mtu is not None:
            minimum[device] = max(mtu, minimum.get(device, 0))
    return tuple(sorted(minimum.items()))


def deploy_platform(config: StackConfig, project_dir: Path) -> Platform:
    kubevirt = KubeVirt("kubevirt", config.kubevirt)
    multus = Multus("multus", config.multus) if config.multus.install else None
    device_plugin = MacvtapDevicePlugin("macvtap", config.macvtap)
    node_install = None
    if config.ssh_mode:
        assert config.macvtap.cni_binary_path is not None and config.ssh_private_key is not None  # checked by config
        # What each node has installed, read now, in preview as in up (node_probe: ssh-mode drift).
        findings = node_probe.prober()(
            config.nodes, config.ssh_private_key.get_secret_value(), config.macvtap.cni_bin_dir, config.macvtap.staging_dir
        )
        node_install = NodeCniInstall(
            "macvtap-cni",
            NodeCniInstallArgs(
                nodes=config.nodes,
                ssh_private_key=pulumi.Output.secret(config.ssh_private_key.get_secret_value()),
                binary_path=project_dir / config.macvtap.cni_binary_path,
                cni_bin_dir=config.macvtap.cni_bin_dir,
                staging_dir=config.macvtap.staging_dir,
                lower_devices=tuple(dict.fromkeys(device.lower_device for device in config.macvtap.lower_devices)),
                minimum_mtus=minimum_lower_device_mtus(config),
                findings=findings,
            ),
        )
    return Platform(kubevirt, multus, device_plugin, node_install)
