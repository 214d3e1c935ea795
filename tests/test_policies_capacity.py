"""Claims about the supply-and-demand policies, called directly as the analyzer calls them.

- macvtap-capacity: per macvtap resource, the stack's running VMs request no more interfaces
  than capacity x nodes. Nodes come from the distinct host:port of the NodeCniInstall commands
  when the stack has them and they are known, else from nodeCount, else 1 is assumed and the
  message says so. Known demand beyond supply is reported even while other VMs are unknown
  (preview): it is a lower bound.
- Demand is one device per VM NIC: NICs of different VMs sharing one NAD each count. A
  VirtualMachine counts like a VMI unless its runStrategy is Halted (or the deprecated
  running: false): then KubeVirt runs no pod and it holds no devices. Manual and RerunOnFailure
  count; an unknown run strategy leaves the VM out of the known demand.
- In a vms stack (a StackReference whose outputs carry macvtapPlatform, no device plugin of its
  own) the capacities come from the platform's networks and the nodes from nodeCount if set,
  else the platform's nodeCount, else 1 (assumed, said so). Over capacity is refused naming the
  network's resource, the demand, the capacity and the node count and their source.
- macvtap-resource-known: with a device plugin config in the stack, or a vms stack's platform,
  every macvtap NAD requests an advertised resource; without one (or with "[]") nothing can be
  told.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE

from tests.policy_resources import (
    check_stack,
    connection,
    device,
    macvtap_iface,
    nad,
    node_installs,
    platform_export,
    stack,
    two_macvtap_vms,
    virtual_machine,
    vmi,
    vms_stack,
)

# --- macvtap-capacity -----------------------------------------------------------------------


def test_demand_within_capacity_times_nodes_passes() -> None:
    resources = stack(two_macvtap_vms(2), devices=[device(capacity=2)])
    assert check_stack("macvtap-capacity", resources) == []


def test_demand_beyond_supply_is_refused_naming_resource_demand_and_supply() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    [(message, urn)] = check_stack("macvtap-capacity", resources)
    assert "'macvtap.network.kubevirt.io/dataplane'" in message
    assert "request 3 interfaces (vm0-vmi/macvtap0, vm1-vmi/macvtap0, vm2-vmi/macvtap0)" in message
    assert "only 2 exist (capacity 2 per node x 1 node(s), assumed: no SSH node installs and no nodeCount" in message
    assert urn is not None and urn.endswith("::macvtap-config")


def test_node_count_comes_from_the_knob_without_node_installs() -> None:
    resources = stack(two_macvtap_vms(5), devices=[device(capacity=2)])
    assert check_stack("macvtap-capacity", resources, {"nodeCount": 3.0}) == []
    [(message, _)] = check_stack("macvtap-capacity", resources, {"nodeCount": 2.0})
    assert "only 4 exist (capacity 2 per node x 2 node(s), from policy config nodeCount)" in message


def test_node_count_comes_from_distinct_hosts_of_node_installs() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    same_host_twice = node_installs(connection("192.0.2.11"), connection("192.0.2.11"))
    [(message, _)] = check_stack("macvtap-capacity", resources + same_host_twice, {"nodeCount": 5.0})
    assert "x 1 node(s), from distinct hosts of the stack's NodeCniInstall commands" in message
    two_ports = node_installs(connection("192.0.2.11", 22.0), connection("192.0.2.11", 2222.0))
    assert check_stack("macvtap-capacity", resources + two_ports) == []


def test_unknown_node_hosts_fall_back_to_the_knob() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    installs = node_installs(connection(UNKNOWN_STRING_VALUE), connection("192.0.2.12"))
    assert check_stack("macvtap-capacity", resources + installs, {"nodeCount": 2.0}) == []
    assert len(check_stack("macvtap-capacity", resources + installs, {"nodeCount": 1.0})) == 1


def test_known_demand_beyond_supply_is_refused_while_other_vms_are_unknown() -> None:
    unknown_vm = vmi(name="vm9")
    unknown_vm["spec"]["domain"]["devices"]["interfaces"] = UNKNOWN_ARRAY_VALUE
    resources = stack([*two_macvtap_vms(2), unknown_vm], devices=[device(capacity=1)])
    [(message, _)] = check_stack("macvtap-capacity", resources)
    assert "request 2 interfaces" in message


def test_namespaced_network_names_resolve_in_their_namespace() -> None:
    vms = [vmi(name=f"vm{i}", networks={"macvtap0": "net/shared"}) for i in range(2)]
    nads = [
        nad("shared", namespace="net"),
        nad("shared", namespace="default", resource="macvtap.network.kubevirt.io/x"),
    ]
    [(message, _)] = check_stack("macvtap-capacity", stack(vms, nads, devices=[device(capacity=1)]))
    assert "'macvtap.network.kubevirt.io/dataplane'" in message


def test_each_nic_on_a_shared_nad_holds_its_own_device() -> None:
    two_nics = [macvtap_iface("macvtap0"), macvtap_iface("macvtap1")]
    vms = [vmi(name="vm1", macvtap=two_nics), vmi(name="vm2", macvtap=two_nics)]
    resources = stack(vms, [nad("dataplane")], devices=[device(capacity=3)])
    [(message, _)] = check_stack("macvtap-capacity", resources)
    assert "request 4 interfaces (vm1-vmi/macvtap0, vm1-vmi/macvtap1, vm2-vmi/macvtap0, vm2-vmi/macvtap1)" in message


@pytest.mark.parametrize(
    ("spec", "counted"),
    [
        ({"runStrategy": "Halted"}, False),
        ({"running": False}, False),
        ({"runStrategy": "Always"}, True),
        ({"runStrategy": "RerunOnFailure"}, True),
        ({"runStrategy": "Manual"}, True),
        ({"running": True}, True),
        ({"runStrategy": UNKNOWN_STRING_VALUE}, False),
    ],
    ids=["halted", "running-false", "always", "rerun-on-failure", "manual", "running-true", "unknown"],
)
def test_only_virtual_machines_that_may_run_request_devices(spec: dict[str, Any], counted: bool) -> None:
    target = virtual_machine(name="vm9", run_strategy=None)
    target["spec"].update(spec)
    resources = stack([*two_macvtap_vms(2), target], devices=[device(capacity=2)])
    violations = check_stack("macvtap-capacity", resources)
    assert (violations != []) is counted
    assert not counted or "request 3 interfaces (vm0-vmi/macvtap0, vm1-vmi/macvtap0, vm9-vm/macvtap0)" in violations[0][0]


# --- macvtap-capacity in a vms stack ----------------------------------------------------------


def test_vms_stack_within_the_platforms_capacity_passes() -> None:
    resources = vms_stack(two_macvtap_vms(4), {"macvtapPlatform": platform_export({"dataplane": 2.0}, node_count=2.0)})
    assert check_stack("macvtap-capacity", resources) == []


def test_vms_stack_over_the_platforms_capacity_is_refused_naming_network_and_numbers() -> None:
    vms = [*two_macvtap_vms(4), virtual_machine(name="vm8")]
    resources = vms_stack(vms, {"macvtapPlatform": platform_export({"dataplane": 2.0}, node_count=2.0)})
    [(message, urn)] = check_stack("macvtap-capacity", resources)
    assert message.startswith("macvtap resource 'macvtap.network.kubevirt.io/dataplane': the stack's VMs request 5 interfaces")
    assert "only 4 exist (capacity 2 per node x 2 node(s), from macvtapPlatform.nodeCount of stack 'acme/kvm-in-a-pod/platform')" in message
    assert "Raise its capacity in the platform stack 'acme/kvm-in-a-pod/platform'" in message
    assert urn is not None and urn.endswith("StackReference::platform")


def test_vms_stack_counts_each_network_against_its_own_capacity() -> None:
    two_networks = [macvtap_iface("macvtap0"), macvtap_iface("macvtap1")]
    vms = [vmi(name=f"vm{i}", macvtap=two_networks, networks={"macvtap1": "storage-3f9a1c"}) for i in range(3)]
    storage = nad("storage-3f9a1c", resource="macvtap.network.kubevirt.io/storage")
    platform = platform_export({"dataplane": 3.0, "storage": 1.0}, node_count=2.0)
    [(message, _)] = check_stack("macvtap-capacity", vms_stack(vms, {"macvtapPlatform": platform}, [nad(), storage]))
    assert "'macvtap.network.kubevirt.io/storage'" in message and "request 3 interfaces" in message and "only 2 exist" in message


def test_vms_stack_node_count_knob_wins_over_the_platforms() -> None:
    resources = vms_stack(two_macvtap_vms(4), {"macvtapPlatform": platform_export({"dataplane": 2.0}, node_count=2.0)})
    [(message, _)] = check_stack("macvtap-capacity", resources, {"nodeCount": 1.0})
    assert "x 1 node(s), from policy config nodeCount" in message
    assert check_stack("macvtap-capacity", resources, {"nodeCount": 3.0}) == []


def test_vms_stack_on_a_platform_that_does_not_know_its_nodes_assumes_one_and_says_so() -> None:
    resources = vms_stack(two_macvtap_vms(3), {"macvtapPlatform": platform_export({"dataplane": 2.0}, node_count=None)})
    [(message, _)] = check_stack("macvtap-capacity", resources)
    assert "x 1 node(s), assumed: stack 'acme/kvm-in-a-pod/platform' does not know its nodes (daemonset mode)" in message
    assert "set nodeCount in the policy config" in message
    assert check_stack("macvtap-capacity", resources, {"nodeCount": 2.0}) == []


def test_vms_stack_without_a_usable_platform_export_is_not_counted_here() -> None:
    # macvtap-platform-reference reports it; counting against half an export would mislead.
    broken = platform_export({"dataplane": "2"})
    assert check_stack("macvtap-capacity", vms_stack(two_macvtap_vms(9), {"macvtapPlatform": broken})) == []


# --- macvtap-resource-known -----------------------------------------------------------------


def test_nad_requesting_an_advertised_device_passes() -> None:
    assert check_stack("macvtap-resource-known", stack(two_macvtap_vms(), devices=[device()])) == []


def test_nad_requesting_an_unadvertised_device_is_refused() -> None:
    resources = stack(two_macvtap_vms(), [nad(resource="macvtap.network.kubevirt.io/lan")], devices=[device()])
    [(message, urn)] = check_stack("macvtap-resource-known", resources)
    assert "'macvtap.network.kubevirt.io/lan'" in message and "it has: macvtap.network.kubevirt.io/dataplane" in message
    assert urn is not None and urn.endswith("::nad0")


@pytest.mark.parametrize("devices", [None, []], ids=["no-device-plugin-config", "auto-discovery"])
def test_advertised_devices_that_cannot_be_told_are_not_checked(devices: Any) -> None:
    resources = stack(two_macvtap_vms(), [nad(resource="macvtap.network.kubevirt.io/eno1")], devices=devices)
    assert check_stack("macvtap-resource-known", resources) == []


def test_vms_stack_nad_on_a_network_the_platform_lacks_is_refused() -> None:
    outputs = {"macvtapPlatform": platform_export({"dataplane": 50.0})}
    lan = nad("lan", resource="macvtap.network.kubevirt.io/lan")
    assert check_stack("macvtap-resource-known", vms_stack(two_macvtap_vms(), outputs)) == []
    [(message, urn)] = check_stack("macvtap-resource-known", vms_stack(two_macvtap_vms(), outputs, [nad(), lan]))
    assert "NAD 'nad1' requests 'macvtap.network.kubevirt.io/lan', which the platform stack 'acme/kvm-in-a-pod/platform'" in message
    assert "it has: macvtap.network.kubevirt.io/dataplane" in message and "kvm-in-a-pod:macvtap.lowerDevices" in message
    assert urn is not None and urn.endswith("::nad1")
