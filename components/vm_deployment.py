"""The VM side of a stack as one call: the shared NADs, then one MacvtapVM per configured VM.

Kept apart from ``__main__.py`` so that any stack layout (one stack, or a platform stack and a
VMs stack) wires its VMs the same way: ``deploy_vms(config, stack, platform, nad_prerequisites)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.config import StackConfig
from components.macvtap_networks import MacvtapNetworks, MacvtapNetworksArgs
from components.macvtap_vm import MacvtapVM, MacvtapVMArgs


def deploy_vms(
    config: StackConfig,
    stack: str,
    platform: Sequence[pulumi.Resource],
    nad_prerequisites: Sequence[pulumi.Resource] = (),
) -> dict[str, dict[str, Any]]:
    """Register the VMs of ``config`` and return the ``vms`` stack output (VM name -> details).

    ``platform``: what every VM object waits for (the KubeVirt CR, the device plugin, node
    installs); ``nad_prerequisites``: what the NADs wait for (Multus, which brings their CRD).
    """
    if not config.vms:
        return {}
    networks = MacvtapNetworks(
        "macvtap-networks",
        MacvtapNetworksArgs(vms=config.vms, namespace=config.vm_namespace, prerequisites=nad_prerequisites),
    )
    outputs: dict[str, dict[str, Any]] = {}
    for vm in config.vms:
        component = MacvtapVM(
            vm.name,
            MacvtapVMArgs(
                vm=vm,
                namespace=config.vm_namespace,
                stack=stack,
                nads=networks.nads,
                nad_configs=networks.configs,
                platform=platform,
            ),
        )
        outputs[vm.name] = component.outputs
    return outputs
