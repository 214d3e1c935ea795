"""The namespace of the VMs and their NADs: created by the stack unless it exists already.

A namespace the stack creates is an ordinary resource, so ``pulumi destroy`` deletes it, with
everything still in it. ``createVmNamespace: false`` is the switch for one that exists.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config import StackConfig, VmStackConfig
from components.ownership import owned

RESOURCE_NAME = "vm-namespace"


def vm_namespace_prerequisites(
    config: StackConfig | VmStackConfig, device_plugin_namespace: pulumi.Resource | None = None
) -> list[pulumi.Resource]:
    """What the VMs and their NADs wait for so that their namespace exists (none if it does already).

    Registers the Namespace when this stack creates it; the device plugin's namespace, when
    the VMs share it, is created by the device plugin already.
    """
    if config.creates_vm_namespace:
        # A fixed name (no auto-naming suffix): the VMs and NADs name it.
        return [k8s.core.v1.Namespace(RESOURCE_NAME, metadata=owned({"name": config.vm_namespace}))]
    if isinstance(config, StackConfig) and device_plugin_namespace is not None and config.vm_namespace == config.macvtap.namespace:
        return [device_plugin_namespace]
    return []
