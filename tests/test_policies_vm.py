"""Claims about the VM-shape policies, called directly as the analyzer calls them.

- macvtap-interfaces-per-vm: a VMI or a VirtualMachine's template attaches at most
  maxMacvtapInterfaces (2 unless configured) macvtap interfaces, legacy ones included.
- macvtap-no-legacy-binding: the core `macvtap: {}` binding is refused, `binding: {name: macvtap}` passes.
- vm-resource-limits: a VM requests memory; memory (a Kubernetes quantity in any unit) and CPU
  cores stay within maxMemory (16Gi) and maxCpuCores (8) unless configured.
- macvtap-unique-macs: no two macvtap interfaces share a MAC, whatever the case.
- Each of these checks a VirtualMachine's template (spec.template.spec) as it checks a VMI's
  spec: a broken VirtualMachine is refused with the same message, naming it as a VirtualMachine.
  A halted VirtualMachine still holds its MACs: starting it would bring the collision back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from policies.guardrails.values import parse_quantity
from tests.policy_resources import (
    VM_TYPE,
    VMI_TYPE,
    check_resource,
    check_stack,
    macvtap_iface,
    stack,
    virtual_machine,
    vmi,
)

# --- macvtap-interfaces-per-vm --------------------------------------------------------------


def test_two_macvtap_interfaces_are_allowed_by_default() -> None:
    props = vmi(macvtap=[macvtap_iface("a"), macvtap_iface("b")])
    assert check_resource("macvtap-interfaces-per-vm", VMI_TYPE, props) == []


def test_more_macvtap_interfaces_than_allowed_are_refused_legacy_ones_included() -> None:
    props = vmi(macvtap=[macvtap_iface("a"), macvtap_iface("b"), macvtap_iface("c", legacy=True)])
    [message] = check_resource("macvtap-interfaces-per-vm", VMI_TYPE, props)
    assert "VirtualMachineInstance vm1" in message and "3 macvtap interfaces (a, b, c)" in message and "2" in message


def test_interface_limit_follows_the_knob() -> None:
    props = vmi(macvtap=[macvtap_iface("a"), macvtap_iface("b")])
    assert len(check_resource("macvtap-interfaces-per-vm", VMI_TYPE, props, {"maxMacvtapInterfaces": 1.0})) == 1


def test_virtual_machine_templates_are_counted_too() -> None:
    props = virtual_machine(macvtap=[macvtap_iface("a"), macvtap_iface("b"), macvtap_iface("c")])
    [message] = check_resource("macvtap-interfaces-per-vm", VM_TYPE, props)
    assert "VirtualMachine vm1" in message


# --- macvtap-no-legacy-binding --------------------------------------------------------------


def test_macvtap_binding_plugin_passes() -> None:
    assert check_resource("macvtap-no-legacy-binding", VMI_TYPE, vmi()) == []


def test_core_macvtap_binding_in_a_virtual_machine_template_is_refused() -> None:
    props = virtual_machine(macvtap=[macvtap_iface("macvtap0", legacy=True)])
    [message] = check_resource("macvtap-no-legacy-binding", VM_TYPE, props)
    assert message.startswith("VirtualMachine vm1: interface 'macvtap0'") and "v1.3" in message


def test_core_macvtap_binding_is_refused() -> None:
    props = vmi(macvtap=[macvtap_iface("macvtap0", legacy=True)])
    [message] = check_resource("macvtap-no-legacy-binding", VMI_TYPE, props)
    assert "'macvtap0'" in message and "v1.3" in message and "binding: {name: macvtap}" in message


# --- vm-resource-limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "value"),
    [
        ("1Gi", 2**30),
        ("1024M", 1024 * 10**6),
        ("16Gi", 16 * 2**30),
        ("1.5Ki", 1536),
        ("2Ti", 2 * 2**40),
        ("500k", 500_000),
        ("1e9", 10**9),
        ("1073741824", 2**30),
        (1073741824.0, 2**30),
        ("100m", Decimal("0.1")),
    ],
)
def test_quantities_parse_in_every_unit(quantity: Any, value: Decimal) -> None:
    assert parse_quantity(quantity) == value


@pytest.mark.parametrize("quantity", ["1GB", "one", "-1Gi", "", "1 Gi", True])
def test_invalid_quantities_do_not_parse(quantity: Any) -> None:
    assert parse_quantity(quantity) is None


def test_vm_within_limits_passes() -> None:
    assert check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="16Gi", cores=8.0)) == []


def test_vm_without_memory_request_is_refused() -> None:
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory=None))
    assert "requests no memory" in message and "spec.domain.resources.requests.memory" in message


def test_memory_above_the_maximum_is_refused_across_units() -> None:
    # 17G (decimal) is below 16Gi (binary, 17.18G); 17.2G is above it.
    assert check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="17G")) == []
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="17.2G"))
    assert "17.2G" in message and "16Gi" in message


def test_memory_that_is_not_a_quantity_is_refused() -> None:
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="2 gigs"))
    assert "not a Kubernetes quantity" in message


def test_cpu_cores_above_the_maximum_are_refused() -> None:
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(cores=9.0))
    assert "9 CPU cores" in message and "8" in message


def test_vm_limits_follow_the_knobs() -> None:
    config = {"maxMemory": "1Gi", "maxCpuCores": 2.0}
    assert check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="1024Mi", cores=2.0), config) == []
    messages = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="1025Mi", cores=3.0), config)
    assert len(messages) == 2


def test_virtual_machine_template_beyond_the_limits_is_refused() -> None:
    assert check_resource("vm-resource-limits", VM_TYPE, virtual_machine()) == []
    messages = check_resource("vm-resource-limits", VM_TYPE, virtual_machine(memory="17Gi", cores=9.0))
    assert len(messages) == 2 and all(message.startswith("VirtualMachine vm1 ") for message in messages)
    assert "17Gi" in messages[0] and "9 CPU cores" in messages[1]


def test_virtual_machine_template_without_memory_request_is_refused() -> None:
    [message] = check_resource("vm-resource-limits", VM_TYPE, virtual_machine(memory=None))
    assert message.startswith("VirtualMachine vm1 requests no memory")


def test_invalid_max_memory_knob_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="maxMemory"):
        check_resource("vm-resource-limits", VMI_TYPE, vmi(), {"maxMemory": "lots"})


# --- macvtap-unique-macs --------------------------------------------------------------------


def test_distinct_macs_pass() -> None:
    vms = [
        vmi(name="vm1", macvtap=[macvtap_iface("m", "02:00:00:00:00:01")]),
        vmi(name="vm2", macvtap=[macvtap_iface("m", "02:00:00:00:00:02")]),
    ]
    assert check_stack("macvtap-unique-macs", stack(vms)) == []


def test_shared_mac_is_refused_whatever_the_case() -> None:
    vms = [
        vmi(name="vm1", macvtap=[macvtap_iface("m", "02:00:00:00:00:AA")]),
        vmi(name="vm2", macvtap=[macvtap_iface("n", "02:00:00:00:00:aa")]),
    ]
    [(message, urn)] = check_stack("macvtap-unique-macs", stack(vms))
    assert "02:00:00:00:00:aa" in message
    assert "VirtualMachineInstance vm1 interface 'm'" in message
    assert "VirtualMachineInstance vm2 interface 'n'" in message
    assert urn is not None and urn.endswith("::vm2-vmi")


def test_mac_shared_by_a_vmi_and_a_virtual_machine_template_is_refused() -> None:
    vms = [
        vmi(name="vm1", macvtap=[macvtap_iface("m", "02:00:00:00:00:01")]),
        virtual_machine(name="vm2", macvtap=[macvtap_iface("n", "02:00:00:00:00:01")]),
    ]
    [(message, urn)] = check_stack("macvtap-unique-macs", stack(vms))
    assert "VirtualMachineInstance vm1 interface 'm'" in message and "VirtualMachine vm2 interface 'n'" in message
    assert urn is not None and urn.endswith("::vm2-vm")


def test_a_halted_virtual_machine_still_holds_its_macs() -> None:
    vms = [
        virtual_machine(name="vm1", macvtap=[macvtap_iface("m", "02:00:00:00:00:01")]),
        virtual_machine(name="vm2", run_strategy="Halted", macvtap=[macvtap_iface("m", "02:00:00:00:00:01")]),
    ]
    [(message, _)] = check_stack("macvtap-unique-macs", stack(vms))
    assert "VirtualMachine vm2 interface 'm'" in message
