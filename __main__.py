"""kvm-in-a-pod: KubeVirt VMs whose second NIC sits on the node's L2 network through macvtap.

Config in, components wired by explicit dependencies, stack outputs out; nothing else.
`kvm-in-a-pod:role` says which part this stack holds: `all` (default), `platform` or `vms`.
"""

from pathlib import Path

import pulumi

from components.config import VmStackConfig, load_stack_config
from components.platform import deploy_platform
from components.platform_export import EXPORT_NAME, networks_output, platform_export
from components.platform_reference import deploy_vms_on_platform_stack
from components.vm_deployment import deploy_vms
from components.vm_namespace import vm_namespace_prerequisites

PROJECT_DIR = Path(__file__).resolve().parent

# Everything is validated here, before the first resource is registered.
config = load_stack_config(PROJECT_DIR)

if isinstance(config, VmStackConfig):
    # The platform is another stack's: its export is read and checked before any VM is registered.
    pulumi.export("vms", deploy_vms_on_platform_stack(config))
else:
    platform = deploy_platform(config, PROJECT_DIR)
    export = platform_export(config)
    pulumi.export(EXPORT_NAME, export.to_output())
    pulumi.export("kubevirtVersion", platform.kubevirt.version)
    pulumi.export("macvtapResourceNames", platform.device_plugin.resource_names)
    if platform.node_install is not None:
        pulumi.export("cniBinarySha256", platform.node_install.binary_sha256)
        pulumi.export("cniNodes", sorted(platform.node_install.installs))
    if config.role == "all":
        vm_namespace = vm_namespace_prerequisites(config, platform.device_plugin.namespace)
        vms = deploy_vms(
            config.vms,
            config.vm_namespace,
            networks=networks_output(export.networks),
            platform=[*platform.vm_prerequisites, *vm_namespace],
            nad_prerequisites=[*platform.nad_prerequisites, *vm_namespace],
            namespace_prerequisites=vm_namespace,
            console_password=config.console_password,
        )
        pulumi.export("vms", vms)
