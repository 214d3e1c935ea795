"""The VM part of a stack: one MacvtapVM per configured VM, and what the ``vms`` output says about them.

Both an `all` stack and a `vms` stack call ``deploy_vms``; they differ only in where the platform
comes from (their own resources, or a StackReference) and so in what the VMs wait for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.config import VM
from components.macvtap_vm import MacvtapVM, MacvtapVMArgs


def deploy_vms(
    vms: Sequence[VM],
    namespace: str,
    *,
    resource_names: Mapping[str, str],
    platform: Sequence[pulumi.Resource],
    nad_prerequisites: Sequence[pulumi.Resource],
) -> dict[str, Any]:
    """Register the VMs; returns the ``vms`` stack output (per VM: namespace, MACs, console command).

    ``resource_names`` maps each network to the device plugin resource the platform advertises;
    ``platform`` is what the VM objects wait for, ``nad_prerequisites`` what the NADs wait for.
    """
    machines = [
        MacvtapVM(
            vm.name,
            MacvtapVMArgs(
                vm=vm,
                namespace=namespace,
                stack=pulumi.get_stack(),
                resource_names=resource_names,
                platform=platform,
                nad_prerequisites=nad_prerequisites,
            ),
        )
        for vm in vms
    ]
    return {
        machine.vmi_name: {"namespace": machine.namespace, "macs": machine.macs, "console": machine.console_command} for machine in machines
    }
