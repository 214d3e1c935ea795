"""The shape of each VM, VirtualMachineInstance or VirtualMachine alike: macvtap NICs, binding, resources, MACs."""

from __future__ import annotations

from typing import Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .values import QUANTITY_PATTERN, UNKNOWN, at, int_knob, knob, parse_quantity, plain
from .workloads import Attachment, attachments, macvtap_interfaces, workload

INTERFACES_PER_VM_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "maxMacvtapInterfaces": {
            "type": "integer",
            "minimum": 0,
            "default": 2,
            "description": "Most macvtap-bound interfaces one VM may attach.",
        },
    }
)


def _check_interfaces_per_vm(args: ResourceValidationArgs, report: ReportViolation) -> None:
    vm = workload(args.resource_type, args.name, plain(args.props))
    if vm is None:
        return
    interfaces = macvtap_interfaces(vm)
    if not isinstance(interfaces, list):
        return
    limit = int_knob(args.get_config(), INTERFACES_PER_VM_SCHEMA, "maxMacvtapInterfaces")
    if len(interfaces) > limit:
        names = ", ".join(iface.name for iface in interfaces)
        report(
            f"{vm.label} attaches {len(interfaces)} macvtap interfaces ({names}), more than the "
            f"allowed {limit}. Remove interfaces, or raise maxMacvtapInterfaces for this stack.",
            None,
        )


def _check_no_legacy_binding(args: ResourceValidationArgs, report: ReportViolation) -> None:
    vm = workload(args.resource_type, args.name, plain(args.props))
    if vm is None:
        return
    interfaces = macvtap_interfaces(vm)
    if not isinstance(interfaces, list):
        return
    for iface in interfaces:
        if iface.legacy:
            report(
                f"{vm.label}: interface '{iface.name}' uses the core 'macvtap: {{}}' binding, which "
                "KubeVirt discontinued in v1.3. Use 'binding: {name: macvtap}' and register the "
                "macvtap binding plugin in the KubeVirt CR.",
                None,
            )


VM_RESOURCE_LIMITS_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "maxMemory": {
            "type": "string",
            "pattern": QUANTITY_PATTERN,
            "default": "16Gi",
            "description": "Largest memory request of one VM, a Kubernetes quantity (Ki Mi Gi Ti, k M G T, bytes).",
        },
        "maxCpuCores": {
            "type": "integer",
            "minimum": 1,
            "default": 8,
            "description": "Most CPU cores (spec.domain.cpu.cores) of one VM.",
        },
    }
)


def _check_vm_resource_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    vm = workload(args.resource_type, args.name, plain(args.props))
    if vm is None or vm.spec is UNKNOWN:
        return
    config = args.get_config()
    max_memory_text = knob(config, VM_RESOURCE_LIMITS_SCHEMA, "maxMemory")
    max_memory = parse_quantity(max_memory_text)
    if max_memory is None:
        raise ValueError(f"vm-resource-limits: maxMemory {max_memory_text!r} is not a Kubernetes quantity")
    memory = at(vm.spec, "domain", "resources", "requests", "memory")
    if memory is None:
        report(f'{vm.label} requests no memory. Set spec.domain.resources.requests.memory (e.g. "1Gi", at most {max_memory_text}).', None)
    elif memory is not UNKNOWN:
        amount = parse_quantity(memory)
        if amount is None:
            report(f'{vm.label}: memory request {memory!r} is not a Kubernetes quantity. Use e.g. "1Gi" or "1024M".', None)
        elif amount > max_memory:
            report(
                f"{vm.label} requests {memory} of memory, above the maximum {max_memory_text}. "
                "Request less, or raise maxMemory for this stack.",
                None,
            )
    cores = at(vm.spec, "domain", "cpu", "cores")
    max_cores = int_knob(config, VM_RESOURCE_LIMITS_SCHEMA, "maxCpuCores")
    if isinstance(cores, (int, float)) and not isinstance(cores, bool) and cores > max_cores:
        report(
            f"{vm.label} asks for {cores:g} CPU cores, above the maximum {max_cores}. "
            "Lower spec.domain.cpu.cores, or raise maxCpuCores for this stack.",
            None,
        )


def _normal_mac(mac: str) -> str:
    return mac.strip().lower().replace("-", ":")


def _check_unique_macs(args: StackValidationArgs, report: ReportViolation) -> None:
    # A halted VirtualMachine counts too: starting it would bring the collision back.
    holders: dict[str, list[Attachment]] = {}
    for attachment in attachments(args.resources):
        if isinstance(attachment.iface.mac, str):
            holders.setdefault(_normal_mac(attachment.iface.mac), []).append(attachment)
    for mac, holders_of_mac in sorted(holders.items()):
        # Registration order varies between runs; name order does not.
        users = sorted(holders_of_mac, key=lambda user: (user.resource.name, user.iface.name))
        if len(users) > 1:
            where = ", ".join(f"{user.vm.label} interface '{user.iface.name}'" for user in users)
            report(
                f"MAC address {mac} is used by {len(users)} macvtap interfaces ({where}); they share the "
                "lower device's L2 segment, so traffic and DHCP leases collide. Give each interface its own "
                "macAddress.",
                users[-1].resource.urn,
            )


INTERFACES_PER_VM: Final = ResourceValidationPolicy(
    name="macvtap-interfaces-per-vm",
    description="A VM attaches at most maxMacvtapInterfaces macvtap interfaces.",
    validate=_check_interfaces_per_vm,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=INTERFACES_PER_VM_SCHEMA,
)

NO_LEGACY_BINDING: Final = ResourceValidationPolicy(
    name="macvtap-no-legacy-binding",
    description="No VM interface uses the core 'macvtap: {}' binding (discontinued in KubeVirt v1.3).",
    validate=_check_no_legacy_binding,
    enforcement_level=EnforcementLevel.MANDATORY,
)

VM_RESOURCE_LIMITS: Final = ResourceValidationPolicy(
    name="vm-resource-limits",
    description="Every VM requests memory, and its memory and CPU cores stay within the stack's maxima.",
    validate=_check_vm_resource_limits,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=VM_RESOURCE_LIMITS_SCHEMA,
)

UNIQUE_MACS: Final = StackValidationPolicy(
    name="macvtap-unique-macs",
    description="No two macvtap interfaces in the stack share a MAC address.",
    validate=_check_unique_macs,
    enforcement_level=EnforcementLevel.MANDATORY,
)
