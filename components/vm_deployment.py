"""The VM side of a stack as one call: the shared NADs, then one MacvtapVM per configured VM.

Both an `all` stack and a `vms` stack call ``deploy_vms``; they differ only in where the platform
comes from (their own resources, or a StackReference) and so in what the VMs wait for. The stack's
parsed config is mapped onto the components' typed arguments here, key for key (the args use the
config's names: components/interface.py), and the resources this program holds itself are wired
in beside them (``MacvtapVMWiring``, ``prerequisites``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pydantic import SecretStr

from components.config import VM, MacvtapAttachment, VMKind
from components.interface import MacvtapNic
from components.macvtap_networks import MacvtapNetworks, MacvtapNetworksArgs
from components.macvtap_vm import MacvtapVM, MacvtapVMArgs, MacvtapVMWiring, plan_attachments, vm_outputs
from components.platform_export import MacvtapNetwork
from components.vmi_provider import vmi_provider


def nic_args(attachment: MacvtapAttachment) -> MacvtapNic:
    """A configured attachment as a NIC argument: the keys it sets."""
    nic: MacvtapNic = {"network": attachment.network}
    if attachment.mac is not None:
        nic["mac"] = attachment.mac
    if attachment.mtu is not None:
        nic["mtu"] = attachment.mtu
    if attachment.promisc_mode is not None:
        nic["promiscMode"] = attachment.promisc_mode
    return nic


def vm_args(vm: VM, namespace: str, nads: Mapping[str, str], console_password: pulumi.Output[str] | None) -> MacvtapVMArgs:
    """A configured VM as MacvtapVM arguments: its keys, the stack's namespace and password, the NADs' configs."""
    args: MacvtapVMArgs = {
        "name": vm.name,
        "namespace": namespace,
        "kind": vm.kind,
        "image": vm.image,
        "memory": vm.memory,
        "cpuCores": vm.cpu_cores,
        "readyTimeoutSeconds": vm.ready_timeout_seconds,
        "sshAuthorizedKeys": list(vm.ssh_authorized_keys),
        "macvtap": [nic_args(attachment) for attachment in vm.macvtap],
        "nads": dict(nads),
    }
    if vm.run_strategy is not None:
        args["runStrategy"] = vm.run_strategy
    if vm.user_data is not None:
        args["userData"] = vm.user_data
    if console_password is not None:
        args["consolePassword"] = console_password
    return args


def deploy_vms(
    vms: Sequence[VM],
    namespace: str,
    *,
    networks: Mapping[str, MacvtapNetwork],
    platform: Sequence[pulumi.Resource],
    nad_prerequisites: Sequence[pulumi.Resource],
    namespace_prerequisites: Sequence[pulumi.Resource] = (),
    console_password: SecretStr | None = None,
) -> dict[str, dict[str, Any]]:
    """Register the VMs and return the ``vms`` stack output (VM name -> details).

    ``networks`` are the platform's, as its ``macvtapPlatform`` export lists them; ``platform`` is
    what every VM object waits for (the KubeVirt CR, the device plugin, node installs, or the
    platform's StackReference); ``nad_prerequisites`` what the NADs wait for (Multus, which brings
    their CRD); ``namespace_prerequisites`` what a Secret in the VM namespace waits for. With
    ``console_password``, each VM's user data (holding it) goes into a Secret.
    """
    if not vms:
        return {}
    shared = MacvtapNetworks(
        "macvtap-networks",
        MacvtapNetworksArgs(
            networks=networks, macvtap=[nic_args(attachment) for vm in vms for attachment in vm.macvtap], namespace=namespace
        ),
        prerequisites=nad_prerequisites,
    )
    # VMIs go through a client-side-apply provider so that a replacement previews (vmi_provider.py).
    provider = vmi_provider() if any(vm.kind == VMKind.VIRTUAL_MACHINE_INSTANCE for vm in vms) else None
    password = None if console_password is None else pulumi.Output.secret(console_password.get_secret_value())
    wiring = MacvtapVMWiring(
        nad_resources=shared.nad_resources, platform=platform, namespace=namespace_prerequisites, vmi_provider=provider
    )
    stack = pulumi.get_stack()
    outputs: dict[str, dict[str, Any]] = {}
    for vm in vms:
        MacvtapVM(vm.name, vm_args(vm, namespace, shared.configs, password), wiring=wiring)
        macs = {planned.interface: planned.mac for planned in plan_attachments(stack, vm)}
        outputs[vm.name] = vm_outputs(vm, namespace, macs, console_login=password is not None)
    return outputs
