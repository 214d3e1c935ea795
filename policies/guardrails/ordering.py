"""Deployment order: every VM waits for the platform the stack deploys, or in a `vms` stack for its reference to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from .kinds import DAEMONSET_TYPE, DEVICE_PLUGIN_COMPONENT, KUBEVIRT_TYPE, has_ancestor
from .platform import is_platform_reference
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


_DEPLOY_ORDER = "so Pulumi may create it before KubeVirt serves VMs or before nodes advertise macvtap devices"


def _check_vm_waits_for_platform(args: StackValidationArgs, report: ReportViolation) -> None:
    # What each VM must reach, and what goes wrong if it does not. In a vms stack the platform
    # is another stack: the VM must at least be tied to the reference it was checked against.
    platform: dict[str, tuple[Callable[[PolicyResource], bool], str]] = {
        "the KubeVirt CR": (lambda r: r.resource_type == KUBEVIRT_TYPE, _DEPLOY_ORDER),
        "the macvtap device plugin DaemonSet": (_is_device_plugin, _DEPLOY_ORDER),
        "the platform stack's StackReference": (
            is_platform_reference,
            "so nothing ties it to the platform stack whose capacity and networks it was checked against",
        ),
    }
    present = {what: check for what, check in platform.items() if any(check[0](r) for r in args.resources)}
    for resource in args.resources:
        vm = workload(resource.resource_type, resource.name, plain(resource.props))
        if vm is None:
            continue
        waits_for = _reachable(resource)
        for what, (test, consequence) in present.items():
            if not any(test(r) for r in waits_for):
                report(
                    f"{vm.label} (resource '{resource.name}') does not wait for {what}: neither its "
                    f"dependencies nor its parents' lead there, {consequence}. Add it to depends_on of the "
                    "VM or of its component.",
                    resource.urn,
                )


VM_WAITS_FOR_PLATFORM: Final = StackValidationPolicy(
    name="vm-waits-for-platform",
    description="Every VM waits (through dependencies or parents) for the KubeVirt CR and the macvtap device plugin the "
    "stack deploys, or in a vms stack for the StackReference to its platform stack.",
    validate=_check_vm_waits_for_platform,
    enforcement_level=EnforcementLevel.ADVISORY,
)
