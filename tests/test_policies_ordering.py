"""Claims about vm-waits-for-platform, called directly as the analyzer calls it.

- A VMI reaches the KubeVirt CR and the device plugin DaemonSet through dependencies and
  parents, transitively; only what the stack deploys is required.
"""

from __future__ import annotations

from tests.policy_resources import (
    NAD_TYPE,
    VMI_TYPE,
    check_stack,
    nad,
    platform,
    resource,
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
