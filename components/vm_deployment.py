"""The VM side of a stack as one call: the shared NADs, then one MacvtapVM per configured VM.

Both an `all` stack and a `vms` stack call ``deploy_vms``; they differ only in where the platform
comes from (their own resources, or a StackReference) and so in what the VMs wait for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pydantic import SecretStr

from components.config import VM
from components.macvtap_networks import MacvtapNetworks, MacvtapNetworksArgs
from components.macvtap_vm import MacvtapVM, MacvtapVMArgs
from components.vmi_provider import vmi_provider


def deploy_vms(
    vms: Sequence[VM],
    namespace: str,
    *,
    resource_names: Mapping[str, str],
    platform: Sequence[pulumi.Resource],
    nad_prerequisites: Sequence[pulumi.Resource],
    namespace_prerequisites: Sequence[pulumi.Resource] = (),
    console_password: SecretStr | None = None,
) -> dict[str, dict[str, Any]]:
    """Register the VMs and return the ``vms`` stack output (VM name -> details).

    ``resource_names`` maps each network to the device plugin resource the platform advertises;
    ``platform`` is what every VM object waits for (the KubeVirt CR, the device plugin, node
    installs, or the platform's StackReference); ``nad_prerequisites`` what the NADs wait for
    (Multus, which brings their CRD); ``namespace_prerequisites`` what a Secret in the VM namespace
    waits for. With ``console_password``, each VM's user data (holding it) goes into a Secret.
    """
    if not vms:
        return {}
    networks = MacvtapNetworks(
        "macvtap-networks",
        MacvtapNetworksArgs(vms=vms, namespace=namespace, resource_names=resource_names, prerequisites=nad_prerequisites),
    )
    # VMIs go through a client-side-apply provider so that a replacement previews (vmi_provider.py).
    provider = vmi_provider() if any(vm.kind == "VirtualMachineInstance" for vm in vms) else None
    password = None if console_password is None else pulumi.Output.secret(console_password.get_secret_value())
    outputs: dict[str, dict[str, Any]] = {}
    for vm in vms:
        component = MacvtapVM(
            vm.name,
            MacvtapVMArgs(
                vm=vm,
                namespace=namespace,
                stack=pulumi.get_stack(),
                nads=networks.nads,
                nad_configs=networks.configs,
                platform=platform,
                vmi_provider=provider,
                console_password=password,
                namespace_prerequisites=namespace_prerequisites,
            ),
        )
        outputs[vm.name] = component.outputs
    return outputs
