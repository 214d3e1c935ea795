"""Claims about macvtap-platform-reference, and about each kind of stack passing the pack.

A `vms` stack holds VMs, their shared NADs and a StackReference to its platform stack, whose
`macvtapPlatform` output is the only source of the device capacities and node count that
macvtap-capacity and macvtap-resource-known need.

- A vms stack whose platform reference exports a well-formed macvtapPlatform passes.
- A malformed macvtapPlatform is refused (mandatory), naming the reference, the referenced stack
  and the field that is wrong.
- A stack with macvtap VMs, no device plugin of its own and only references to stacks that
  export no macvtapPlatform is refused (mandatory), naming each reference, its stack and what it
  does export. Mandatory rather than advisory, because otherwise the mandatory capacity and
  resource checks would pass without checking anything, and the VMs would go to a cluster
  whose macvtap networks nobody looked at. A stack that deploys its own device plugin, or has no
  macvtap VMs, may reference any stack.
- Two platform references are refused: a vms stack runs on one platform.
- A platform stack (KubeVirt, device plugin, no VMs) and a vms stack on it each pass every policy.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResource, ResourceValidationPolicy, StackValidationPolicy

from policies.guardrails import POLICIES
from tests.policy_resources import (
    CONFIGMAP_TYPE,
    check_resource,
    check_stack,
    device,
    dp_configmap,
    platform,
    platform_export,
    resource,
    stack_reference,
    two_macvtap_vms,
    virtual_machine,
    vms_stack,
)


def every_violation(resources: list[PolicyResource]) -> list[str]:
    """What the whole pack reports on a stack: resource policies per resource, then stack policies."""
    found = []
    for policy in POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                found += [f"{policy.name}: {m}" for m in check_resource(policy.name, r.resource_type, dict(r.props))]
        elif isinstance(policy, StackValidationPolicy):
            found += [f"{policy.name}: {m}" for m, _ in check_stack(policy.name, resources)]
    return found


def test_vms_stack_with_a_usable_platform_export_passes() -> None:
    assert check_stack("macvtap-platform-reference", vms_stack(two_macvtap_vms(), {"macvtapPlatform": platform_export()})) == []


@pytest.mark.parametrize(
    ("export", "named"),
    [
        ({"nodeCount": 2.0}, "macvtapPlatform.networks is None"),
        (platform_export({"dataplane": "50"}), "macvtapPlatform.networks.dataplane.capacityPerNode is '50'"),
        (platform_export({"dataplane": 0.0}), "macvtapPlatform.networks.dataplane.capacityPerNode is 0.0"),
        (platform_export(node_count=0.0), "macvtapPlatform.nodeCount is 0.0"),
        (
            platform_export() | {"networks": {"dataplane": {"resourceName": "intel.com/sriov", "capacityPerNode": 5.0}}},
            "macvtapPlatform.networks.dataplane.resourceName is 'intel.com/sriov'",
        ),
    ],
    ids=["no-networks", "capacity-text", "capacity-zero", "node-count-zero", "foreign-resource"],
)
def test_malformed_platform_export_is_refused_naming_the_field(export: dict[str, Any], named: str) -> None:
    [(message, urn)] = check_stack("macvtap-platform-reference", vms_stack(two_macvtap_vms(), {"macvtapPlatform": export}))
    assert message.startswith("StackReference 'platform' reads macvtapPlatform from stack 'acme/kvm-in-a-pod/platform'")
    assert named in message
    assert urn is not None and urn.endswith("StackReference::platform")


def test_vms_stack_referencing_a_stack_without_a_platform_export_is_refused() -> None:
    resources = vms_stack(two_macvtap_vms(), {"kubevirtVersion": "v1.9.0", "vms": {}})
    [(message, urn)] = check_stack("macvtap-platform-reference", resources)
    assert "StackReference 'platform' reads stack 'acme/kvm-in-a-pod/platform', which exports no macvtapPlatform" in message
    assert "(it exports: kubevirtVersion, vms)" in message and "kvm-in-a-pod:platformStack" in message
    assert urn is not None and urn.endswith("StackReference::platform")


def test_reference_to_a_platform_not_deployed_yet_is_refused() -> None:
    [(message, _)] = check_stack("macvtap-platform-reference", vms_stack(two_macvtap_vms(), {}))
    assert "(it exports: nothing)" in message


def test_other_references_are_fine_with_an_own_device_plugin_or_without_macvtap_vms() -> None:
    other = stack_reference({"vpcId": "vpc-1"}, name="network", stack_name="acme/network/prod")
    own_plugin = resource(CONFIGMAP_TYPE, "macvtap-config", dp_configmap([device()]))
    with_vms = vms_stack(two_macvtap_vms(), {"vpcId": "vpc-1"})
    assert check_stack("macvtap-platform-reference", [*with_vms, own_plugin]) == []
    assert check_stack("macvtap-platform-reference", [other]) == []


def test_two_platform_references_are_refused() -> None:
    second = stack_reference({"macvtapPlatform": platform_export()}, name="platform-b", stack_name="acme/kvm-in-a-pod/platform-b")
    resources = [*vms_stack(two_macvtap_vms(), {"macvtapPlatform": platform_export()}), second]
    [(message, urn)] = check_stack("macvtap-platform-reference", resources)
    assert "from 2 stacks ('platform' (acme/kvm-in-a-pod/platform), 'platform-b' (acme/kvm-in-a-pod/platform-b))" in message
    assert urn == second.urn


def test_platform_stack_without_vms_passes_every_policy() -> None:
    kubevirt_cr, daemonset = platform()
    plugin = daemonset.parent
    assert plugin is not None
    config = resource(CONFIGMAP_TYPE, "macvtap-config", dp_configmap([device(capacity=50)]), parent=plugin)
    assert every_violation([kubevirt_cr, plugin, daemonset, config]) == []


def test_vms_stack_of_both_kinds_on_a_platform_passes_every_policy() -> None:
    vms = [*two_macvtap_vms(2), virtual_machine(name="vm7"), virtual_machine(name="vm8", run_strategy="Halted")]
    assert every_violation(vms_stack(vms, {"macvtapPlatform": platform_export({"dataplane": 3.0}, node_count=1.0)})) == []
