"""Claims about the supply-and-demand policies, called directly as the analyzer calls them.

- macvtap-capacity: per macvtap resource, the stack's VMs request no more interfaces than
  capacity x nodes; nodes come from nodeCount (default 1), or from the distinct host:port of the
  NodeCniInstall commands when the stack has them and they are known. Known demand beyond
  supply is reported even while other VMs are unknown (preview): it is a lower bound.
- macvtap-resource-known: with a device plugin config in the stack, every macvtap NAD requests
  an advertised resource; without one (or with "[]") nothing can be told.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE

from tests.policy_resources import (
    check_stack,
    connection,
    device,
    nad,
    node_installs,
    stack,
    two_macvtap_vms,
    vmi,
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
    assert "only 2 exist (capacity 2 per node x 1 node(s), from policy config nodeCount)" in message
    assert urn is not None and urn.endswith("::macvtap-config")


def test_node_count_comes_from_the_knob_without_node_installs() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    assert check_stack("macvtap-capacity", resources, {"nodeCount": 2.0}) == []


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
