"""The platform a `vms` stack runs on, read from the StackReference to its platform stack.

A `vms` stack holds only VMs, their NADs and namespace; the device plugin, its capacities and the
nodes live in the platform stack, which exports them as ``macvtapPlatform``:
``{"networks": {<network>: {"resourceName", "capacityPerNode", ...}}, "nodeCount": n | null, ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from .device_plugin import device_plugin_config
from .kinds import MACVTAP_RESOURCE_PREFIX, PLATFORM_OUTPUT, STACK_REFERENCE_TYPE
from .values import UNKNOWN, at, plain, whole_number
from .workloads import attachments


@dataclass(frozen=True)
class PlatformReference:
    """A StackReference whose outputs carry ``macvtapPlatform``, and what it says."""

    resource: PolicyResource
    stack: str  # the referenced stack's name, for messages
    capacities: dict[str, int]  # node resource name -> devices per node
    node_count: int | None  # None: the platform does not know (daemonset mode)
    problems: tuple[str, ...]  # why the export cannot be used; empty when it can


def _stack_name(resource: PolicyResource, props: Any) -> str:
    name = at(props, "name")
    return name if isinstance(name, str) else resource.name


def is_platform_reference(resource: PolicyResource) -> bool:
    """A StackReference to a stack that exports ``macvtapPlatform``: how a `vms` stack is recognised."""
    if resource.resource_type != STACK_REFERENCE_TYPE:
        return False
    outputs = at(plain(resource.props), "outputs")
    return isinstance(outputs, dict) and PLATFORM_OUTPUT in outputs


def platform_references(resources: Sequence[PolicyResource]) -> list[PlatformReference]:
    """The stack's references to a platform stack; one whose export is not known yet is left out."""
    found = []
    for resource in resources:
        if not is_platform_reference(resource):
            continue
        props = plain(resource.props)
        exported = props["outputs"][PLATFORM_OUTPUT]
        if exported is UNKNOWN or UNKNOWN in _leaves(exported):
            continue
        found.append(_read_platform(resource, _stack_name(resource, props), exported))
    return found


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _read_platform(resource: PolicyResource, stack: str, exported: Any) -> PlatformReference:
    problems: list[str] = []
    capacities: dict[str, int] = {}
    networks = at(exported, "networks")
    if not isinstance(networks, dict) or not networks:
        problems.append(f"{PLATFORM_OUTPUT}.networks is {networks!r}, not an object of networks")
        networks = {}
    for network, entry in sorted(networks.items()):
        where = f"{PLATFORM_OUTPUT}.networks.{network}"
        resource_name = at(entry, "resourceName")
        capacity = whole_number(at(entry, "capacityPerNode"))
        if not isinstance(resource_name, str) or not resource_name.startswith(MACVTAP_RESOURCE_PREFIX):
            problems.append(f"{where}.resourceName is {resource_name!r}, not '{MACVTAP_RESOURCE_PREFIX}<name>'")
        elif capacity is None or capacity < 1:
            problems.append(f"{where}.capacityPerNode is {at(entry, 'capacityPerNode')!r}, not a whole number of at least 1")
        else:
            capacities[resource_name] = capacity
    raw_nodes = at(exported, "nodeCount")
    node_count = whole_number(raw_nodes)
    if raw_nodes is not None and (node_count is None or node_count < 1):
        problems.append(f"{PLATFORM_OUTPUT}.nodeCount is {raw_nodes!r}, not a whole number of at least 1 or null")
        node_count = None
    return PlatformReference(resource, stack, capacities, node_count, tuple(problems))


def usable_platform(resources: Sequence[PolicyResource]) -> PlatformReference | None:
    """The one platform reference the checks can read; None if there is none or it is ambiguous."""
    references = platform_references(resources)
    if len(references) != 1 or references[0].problems:
        return None
    return references[0]


def _check_platform_reference(args: StackValidationArgs, report: ReportViolation) -> None:
    references = platform_references(args.resources)
    for reference in references:
        if reference.problems:
            report(
                f"StackReference '{reference.resource.name}' reads {PLATFORM_OUTPUT} from stack '{reference.stack}', "
                f"but {'; '.join(reference.problems)}. The VMs' capacity and resources cannot be checked against it. "
                "Run `pulumi up` on the platform stack with this version of kvm-in-a-pod so it re-exports "
                f"{PLATFORM_OUTPUT}.",
                reference.resource.urn,
            )
    if len(references) > 1:
        names = ", ".join(f"'{reference.resource.name}' ({reference.stack})" for reference in references)
        report(
            f"The stack reads {PLATFORM_OUTPUT} from {len(references)} stacks ({names}); a vms stack runs on "
            "one platform, so its capacity cannot be told. Keep one StackReference to the platform stack.",
            references[-1].resource.urn,
        )
    if any(is_platform_reference(r) for r in args.resources):
        return  # one whose export is not known yet (preview) is read once it is
    if device_plugin_config(args.resources) is not None or not attachments(args.resources):
        return
    # VMs with macvtap NICs, no device plugin of their own and a reference to another stack that
    # exports no platform: a vms stack pointed at the wrong stack, or at a platform not yet deployed.
    others = [resource for resource in args.resources if resource.resource_type == STACK_REFERENCE_TYPE]
    for other in others:
        props = plain(other.props)
        outputs = at(props, "outputs")
        if outputs is UNKNOWN:
            continue
        exported = ", ".join(sorted(outputs)) if isinstance(outputs, dict) and outputs else "nothing"
        report(
            f"StackReference '{other.name}' reads stack '{_stack_name(other, props)}', which exports no "
            f"{PLATFORM_OUTPUT} (it exports: {exported}), and this stack deploys no macvtap device plugin of its own, "
            "so nothing tells whether its VMs' macvtap networks exist or have room. Point "
            "kvm-in-a-pod:platformStack at a deployed `platform` or `all` stack.",
            other.urn,
        )


PLATFORM_REFERENCE: Final = StackValidationPolicy(
    name="macvtap-platform-reference",
    description=f"A stack whose VMs run on another stack's platform reads a usable {PLATFORM_OUTPUT} output from "
    "exactly one StackReference, so capacity and resources can be checked.",
    validate=_check_platform_reference,
    enforcement_level=EnforcementLevel.MANDATORY,
)
