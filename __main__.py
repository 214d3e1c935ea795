"""kvm-in-a-pod: KubeVirt VMs whose second NIC sits on the node's L2 network through macvtap.

Config in, components wired by explicit dependencies, stack outputs out; nothing else.
"""

from pathlib import Path

import pulumi

from components.config import load_stack_config
from components.device_plugin import MacvtapDevicePlugin
from components.kubevirt import KubeVirt
from components.macvtap_vm import MacvtapVM, MacvtapVMArgs
from components.multus import Multus
from components.node_cni import NodeCniInstall, NodeCniInstallArgs
from components.vm_namespace import vm_namespace_prerequisites

PROJECT_DIR = Path(__file__).resolve().parent

# Everything is validated here, before the first resource is registered.
config = load_stack_config(PROJECT_DIR)

kubevirt = KubeVirt("kubevirt", config.kubevirt)
multus = Multus("multus", config.multus) if config.multus.install else None
device_plugin = MacvtapDevicePlugin("macvtap", config.macvtap)

vm_namespace = vm_namespace_prerequisites(config, device_plugin.namespace)

platform: list[pulumi.Resource] = [kubevirt.cr, device_plugin.daemonset, *vm_namespace]
node_install = None
if config.ssh_mode:
    assert config.macvtap.cni_binary_path is not None and config.ssh_private_key is not None  # checked by config
    node_install = NodeCniInstall(
        "macvtap-cni",
        NodeCniInstallArgs(
            nodes=config.nodes,
            ssh_private_key=pulumi.Output.secret(config.ssh_private_key.get_secret_value()),
            binary_path=PROJECT_DIR / config.macvtap.cni_binary_path,
            cni_bin_dir=config.macvtap.cni_bin_dir,
            staging_dir=config.macvtap.staging_dir,
            lower_devices=tuple(device.lower_device for device in config.macvtap.lower_devices),
        ),
    )
    platform.extend(node_install.installs.values())

vms = [
    MacvtapVM(
        vm.name,
        MacvtapVMArgs(
            vm=vm,
            namespace=config.vm_namespace,
            stack=pulumi.get_stack(),
            platform=platform,
            nad_prerequisites=[*([multus.manifest] if multus else []), *vm_namespace],
        ),
    )
    for vm in config.vms
]

pulumi.export("kubevirtVersion", kubevirt.version)
pulumi.export("macvtapResourceNames", device_plugin.resource_names)
pulumi.export("vms", {vm.vmi_name: {"namespace": vm.namespace, "macs": vm.macs, "console": vm.console_command} for vm in vms})
if node_install is not None:
    pulumi.export("cniBinarySha256", node_install.binary_sha256)
    pulumi.export("cniNodes", sorted(node_install.installs))
