"""Deployment order: every VM waits for the platform the stack deploys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from .kinds import DAEMONSET_TYPE, DEVICE_PLUGIN_COMPONENT, KUBEVIRT_TYPE, has_ancestor
from .values import plain
from .workloads import workload


def _reachable(start: PolicyResource) -> list[PolicyResource]:
    """What ``start`` waits for: its dependencies and parents, transitively (start included)."""
    seen: dict[str, PolicyResource] = {}
    pending = [start]
    while pending:
        resource = pending.pop()
        if resource.urn in seen:
            continue
        seen[resource.urn] = resource
        pending.extend(resource.dependencies)
        for deps in resource.property_dependencies.values():
            pending.extend(deps)
        if resource.parent is not None:
            pending.append(resource.parent)
    return list(seen.values())


def _is_device_plugin(resource: PolicyResource) -> bool:
    return resource.resource_type == DEVICE_PLUGIN_COMPONENT or (
        resource.resource_type == DAEMONSET_TYPE and has_ancestor(resource, DEVICE_PLUGIN_COMPONENT)
    )


def _check_vm_waits_for_platform(args: StackValidationArgs, report: ReportViolation) -> None:
    platform: dict[str, Callable[[PolicyResource], bool]] = {
        "the KubeVirt CR": lambda r: r.resource_type == KUBEVIRT_TYPE,
        "the macvtap device plugin DaemonSet": _is_device_plugin,
    }
    present = {what: test for what, test in platform.items() if any(test(r) for r in args.resources)}
    for resource in args.resources:
        vm = workload(resource.resource_type, resource.name, plain(resource.props))
        if vm is None:
            continue
        waits_for = _reachable(resource)
        for what, test in present.items():
            if not any(test(r) for r in waits_for):
                report(
                    f"{vm.label} (resource '{resource.name}') does not wait for {what}: neither its "
                    "dependencies nor its parents' lead there, so Pulumi may create it before KubeVirt "
                    "serves VMs or before nodes advertise macvtap devices. Add it to depends_on of the "
                    "VM or of its component.",
                    resource.urn,
                )


VM_WAITS_FOR_PLATFORM: Final = StackValidationPolicy(
    name="vm-waits-for-platform",
    description="Every VM waits (through dependencies or parents) for the KubeVirt CR and the macvtap device plugin the stack deploys.",
    validate=_check_vm_waits_for_platform,
    enforcement_level=EnforcementLevel.ADVISORY,
)
