"""Claims about the macvtap-guardrails pack as a whole. Each policy's own claims are in test_policies_<subject>.py.

- In preview, an unknown value makes a policy skip that check; it never raises or reports. That
  holds for a vms stack whose platform StackReference's outputs are not known too.
- The pack: the twelve policy names, each with a description and an enforcement level, advisory
  only for the two ordering/SSH hygiene checks; every knob has a type, a description and a
  default, except nodeCount, whose absence a vms stack must be able to tell (the platform's node
  count is used then).
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from policies.guardrails import POLICIES, kinds
from tests.policy_resources import (
    CONFIGMAP_TYPE,
    NAD_TYPE,
    VMI_TYPE,
    check_resource,
    check_stack,
    device,
    dp_configmap,
    macvtap_iface,
    nad,
    platform_export,
    resource,
    stack,
    vmi,
    vms_stack,
)

# --- preview: unknown values ----------------------------------------------------------------

UNKNOWN_RESOURCES = [
    ("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=UNKNOWN_STRING_VALUE)),
    ("macvtap-nad-config", NAD_TYPE, nad(config=UNKNOWN_STRING_VALUE)),
    ("macvtap-interfaces-per-vm", VMI_TYPE, vmi(macvtap=[macvtap_iface("a")] * 3) | {"spec": UNKNOWN_STRING_VALUE}),
    ("macvtap-no-legacy-binding", VMI_TYPE, vmi() | {"spec": {"domain": {"devices": {"interfaces": UNKNOWN_ARRAY_VALUE}}}}),
    ("vm-resource-limits", VMI_TYPE, vmi(memory=UNKNOWN_STRING_VALUE, cores=UNKNOWN_NUMBER_VALUE)),
    ("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap(UNKNOWN_STRING_VALUE)),
]


@pytest.mark.parametrize(("policy_name", "resource_type", "props"), UNKNOWN_RESOURCES, ids=lambda x: str(x)[:30])
def test_resource_policies_skip_unknown_values(policy_name: str, resource_type: str, props: dict[str, Any]) -> None:
    assert check_resource(policy_name, resource_type, props) == []


def test_stack_policies_skip_unknown_values() -> None:
    unknown_vm = vmi(name="vm9")
    unknown_vm["spec"]["domain"]["devices"]["interfaces"] = UNKNOWN_ARRAY_VALUE
    resources = stack([vmi(), unknown_vm], [nad(resource=UNKNOWN_STRING_VALUE)], devices=[device(capacity=1)])
    resources.append(resource(kinds.REMOTE_COMMAND_TYPE, "c", {"connection": UNKNOWN_STRING_VALUE}))
    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            assert check_stack(policy.name, resources) == [], policy.name


def test_stack_policies_skip_a_platform_reference_whose_outputs_are_unknown() -> None:
    over_capacity = [vmi(name=f"vm{i}") for i in range(3)]
    unknown_node_count = platform_export({"dataplane": 1.0}) | {"nodeCount": UNKNOWN_NUMBER_VALUE}
    for outputs in (UNKNOWN_OBJECT_VALUE, {"macvtapPlatform": UNKNOWN_OBJECT_VALUE}, {"macvtapPlatform": unknown_node_count}):
        resources = vms_stack(over_capacity, outputs)
        for policy in POLICIES:
            if isinstance(policy, StackValidationPolicy):
                assert check_stack(policy.name, resources) == [], (policy.name, outputs)


# --- the pack -------------------------------------------------------------------------------


def test_pack_has_the_agreed_policy_names_and_levels() -> None:
    levels = {policy.name: policy.enforcement_level for policy in POLICIES}
    advisory = {"vm-waits-for-platform", "ssh-host-key-pinned"}
    assert set(levels) == {
        "macvtap-nad-resource-annotation",
        "macvtap-nad-config",
        "macvtap-interfaces-per-vm",
        "macvtap-no-legacy-binding",
        "vm-resource-limits",
        "macvtap-device-plugin-config",
        "macvtap-capacity",
        "macvtap-resource-known",
        "macvtap-unique-macs",
        "macvtap-platform-reference",
        *advisory,
    }
    for name, level in levels.items():
        assert level == (EnforcementLevel.ADVISORY if name in advisory else EnforcementLevel.MANDATORY), name


def test_every_knob_has_a_type_a_description_and_a_default_but_node_count() -> None:
    without_default = set()
    for policy in POLICIES:
        assert policy.description
        for knob, spec in (policy.config_schema.properties if policy.config_schema else {}).items():
            assert {"type", "description"} <= set(spec), f"{policy.name}.{knob}"
            if "default" not in spec:
                without_default.add(f"{policy.name}.{knob}")
    assert without_default == {"macvtap-capacity.nodeCount"}
