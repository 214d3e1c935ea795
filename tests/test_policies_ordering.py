"""Claims about vm-waits-for-platform, called directly as the analyzer calls it.

- A VMI reaches the KubeVirt CR and the device plugin DaemonSet through dependencies and
  parents, transitively; only what the stack deploys is required.
- A VirtualMachine is held to the same rule.
- In a vms stack the platform is the StackReference whose outputs carry macvtapPlatform: each VM
  must reach it (directly, or through a NAD or its component); a StackReference to some other
  stack is not the platform and is not required.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.policy_resources import (
    NAD_TYPE,
    VM_TYPE,
    VMI_TYPE,
    check_stack,
    nad,
    platform,
    platform_export,
    resource,
    stack_reference,
    virtual_machine,
    vm_resource,
    vmi,
)

# --- vm-waits-for-platform ------------------------------------------------------------------


def test_vmi_depending_on_kubevirt_and_the_device_plugin_passes() -> None:
    kubevirt_cr, daemonset = platform()
    vm = resource(VMI_TYPE, "vm1-vmi", vmi(), dependencies=[kubevirt_cr, daemonset])
    assert check_stack("vm-waits-for-platform", [kubevirt_cr, daemonset, vm]) == []


def test_vmi_may_wait_through_its_parent_and_transitively() -> None:
    kubevirt_cr, daemonset = platform()
    nad_resource = resource(NAD_TYPE, "vm1-nad", nad(), dependencies=[daemonset])
    component = resource("kvm-in-a-pod:index:MacvtapVM", "vm1", dependencies=[kubevirt_cr])
    vm = resource(VMI_TYPE, "vm1-vmi", vmi(), parent=component, dependencies=[nad_resource])
    assert check_stack("vm-waits-for-platform", [kubevirt_cr, daemonset, nad_resource, component, vm]) == []


def test_vmi_not_waiting_for_the_platform_is_reported() -> None:
    kubevirt_cr, daemonset = platform()
    vm = resource(VMI_TYPE, "vm1-vmi", vmi(), dependencies=[kubevirt_cr])
    [(message, urn)] = check_stack("vm-waits-for-platform", [kubevirt_cr, daemonset, vm])
    assert "'vm1-vmi'" in message and "the macvtap device plugin DaemonSet" in message and "depends_on" in message
    assert urn == vm.urn


def test_only_platform_the_stack_deploys_is_required() -> None:
    assert check_stack("vm-waits-for-platform", [resource(VMI_TYPE, "vm1-vmi", vmi())]) == []


def test_virtual_machine_not_waiting_for_the_platform_is_reported() -> None:
    kubevirt_cr, daemonset = platform()
    vm = resource(VM_TYPE, "vm1-vm", virtual_machine(), dependencies=[daemonset])
    [(message, urn)] = check_stack("vm-waits-for-platform", [kubevirt_cr, daemonset, vm])
    assert message.startswith("VirtualMachine vm1 (resource 'vm1-vm') does not wait for the KubeVirt CR")
    assert urn == vm.urn


@pytest.mark.parametrize("make_vm", [vmi, virtual_machine], ids=["vmi", "virtual-machine"])
def test_vm_in_a_vms_stack_reaching_the_platform_reference_passes(make_vm: Callable[..., dict[str, Any]]) -> None:
    reference = stack_reference({"macvtapPlatform": platform_export()})
    shared_nad = resource(NAD_TYPE, "dataplane", nad(), dependencies=[reference])
    component = resource("kvm-in-a-pod:index:MacvtapVM", "vm2", dependencies=[reference])
    direct = vm_resource(make_vm(name="vm1"), dependencies=[reference])
    through_nad = vm_resource(make_vm(name="vm3"), dependencies=[shared_nad])
    through_parent = resource(VMI_TYPE, "vm2-vmi", vmi(name="vm2"), parent=component)
    resources = [reference, shared_nad, component, direct, through_nad, through_parent]
    assert check_stack("vm-waits-for-platform", resources) == []


def test_vm_in_a_vms_stack_not_reaching_the_platform_reference_is_reported() -> None:
    reference = stack_reference({"macvtapPlatform": platform_export()})
    vm = vm_resource(virtual_machine())
    [(message, urn)] = check_stack("vm-waits-for-platform", [reference, vm])
    assert "'vm1-vm'" in message and "the platform stack's StackReference" in message and "depends_on" in message
    assert urn == vm.urn


def test_a_reference_to_a_stack_that_is_no_platform_is_not_required() -> None:
    other = stack_reference({"vpcId": "vpc-1"}, name="network", stack_name="acme/network/prod")
    assert check_stack("vm-waits-for-platform", [other, vm_resource(vmi())]) == []
