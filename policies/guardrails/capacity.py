"""Supply and demand of macvtap devices: every NIC fits into capacity x nodes, and every NAD's resource exists.

Supply comes from the stack's own device plugin config (an `all` or `platform` stack) or, in a
`vms` stack, from the platform stack's ``macvtapPlatform`` export. Demand is counted per VM NIC,
not per NAD: NADs are shared by every VM on the same network and settings, and each NIC of a
running VM holds one device on its node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .device_plugin import device_plugin_config
from .kinds import DEVICE_PLUGIN_CONF_KEY, NODE_CNI_INSTALL_COMPONENT, PLATFORM_OUTPUT, REMOTE_COMMAND_TYPE, has_ancestor
from .nad import nads
from .platform import usable_platform
from .values import UNKNOWN, at, plain, whole_number
from .workloads import attachments

CAPACITY_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "nodeCount": {
            "type": "integer",
            "minimum": 1,
            # No default: a vms stack must tell "not set" (use the platform's node count) from "set".
            "description": "Nodes that run the macvtap device plugin. In a stack that installs the CNI over SSH, "
            "its node installs are counted instead; in a vms stack this wins over the platform stack's nodeCount. "
            "When neither this nor the stack tells, 1 node is assumed.",
        },
    }
)


@dataclass(frozen=True)
class Supply:
    """The macvtap devices the stack's VMs can get, and where that is known from (for messages)."""

    capacities: dict[str, Any]  # node resource name -> devices per node (int, or UNKNOWN if invalid)
    advertiser: str  # "the device plugin config 'x'" / "the platform stack 'y'"
    raise_capacity: str  # where to raise a resource's capacity
    add_resource: str  # where to add a missing resource
    nodes: int
    nodes_from: str  # "from ..." or "assumed: ..."
    urn: str  # where a capacity violation is reported


def _managed_node_count(resources: Sequence[PolicyResource]) -> int | None:
    """Distinct SSH targets (host, port) of the NodeCniInstall commands; None if none or not known."""
    nodes: set[tuple[Any, Any]] = set()
    for resource in resources:
        if resource.resource_type != REMOTE_COMMAND_TYPE or not has_ancestor(resource, NODE_CNI_INSTALL_COMPONENT):
            continue
        connection = at(plain(resource.props), "connection")
        host, port = at(connection, "host"), at(connection, "port")
        if host is UNKNOWN or port is UNKNOWN or not isinstance(host, str):
            return None
        nodes.add((host, 22 if port is None else whole_number(port)))
    return len(nodes) or None


def _configured_node_count(args: StackValidationArgs) -> int | None:
    # Policy config crosses the wire as a protobuf Struct: integers arrive as floats.
    value = (args.get_config() or {}).get("nodeCount")
    return None if value is None else int(value)


def supply(args: StackValidationArgs) -> Supply | None:
    """The stack's macvtap supply; None when nothing in the stack tells it."""
    configured = _configured_node_count(args)
    dp_config = device_plugin_config(args.resources)
    if dp_config is not None:
        if dp_config.capacities is UNKNOWN:
            return None
        managed = _managed_node_count(args.resources)
        if managed is not None:
            nodes, nodes_from = managed, "from distinct hosts of the stack's NodeCniInstall commands"
        elif configured is not None:
            nodes, nodes_from = configured, "from policy config nodeCount"
        else:
            nodes, nodes_from = 1, "assumed: no SSH node installs and no nodeCount in the policy config"
        return Supply(
            dp_config.capacities,
            f"the device plugin config '{dp_config.resource.name}'",
            f"in {DEVICE_PLUGIN_CONF_KEY} of '{dp_config.resource.name}'",
            f"add the device to {DEVICE_PLUGIN_CONF_KEY}",
            nodes,
            nodes_from,
            dp_config.resource.urn,
        )
    platform = usable_platform(args.resources)
    if platform is None:
        return None  # no platform, or one macvtap-platform-reference reports
    if configured is not None:
        nodes, nodes_from = configured, "from policy config nodeCount"
    elif platform.node_count is not None:
        nodes, nodes_from = platform.node_count, f"from {PLATFORM_OUTPUT}.nodeCount of stack '{platform.stack}'"
    else:
        nodes = 1
        nodes_from = f"assumed: stack '{platform.stack}' does not know its nodes (daemonset mode); set nodeCount in the policy config"
    return Supply(
        dict(platform.capacities),
        f"the platform stack '{platform.stack}'",
        f"in the platform stack '{platform.stack}' (kvm-in-a-pod:macvtap.lowerDevices[].capacity)",
        "add the network to the platform stack's kvm-in-a-pod:macvtap.lowerDevices",
        nodes,
        nodes_from,
        platform.resource.urn,
    )


def _check_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    available = supply(args)
    if available is None:
        return
    # In preview some VMs' interfaces (or run strategies) may be unknown: the known demand is a
    # lower bound, so an excess found is real. A halted VirtualMachine has no pod, so no devices.
    nads_by_ref = nads(args.resources)
    demand: dict[str, list[str]] = {}
    for attachment in attachments(args.resources):
        if attachment.vm.runs is not True:
            continue
        nad = nads_by_ref.get(attachment.iface.network) if isinstance(attachment.iface.network, tuple) else None
        if nad is not None and isinstance(nad.resource_name, str):
            demand.setdefault(nad.resource_name, []).append(f"{attachment.resource.name}/{attachment.iface.name}")
    for resource_name, unsorted_users in sorted(demand.items()):
        users = sorted(unsorted_users)
        capacity = available.capacities.get(resource_name)
        if not isinstance(capacity, int):
            continue  # not advertised (macvtap-resource-known) or an invalid capacity (macvtap-device-plugin-config)
        total = capacity * available.nodes
        if len(users) > total:
            report(
                f"macvtap resource '{resource_name}': the stack's VMs request {len(users)} interfaces "
                f"({', '.join(users)}) but only {total} exist (capacity {capacity} per node x {available.nodes} "
                f"node(s), {available.nodes_from}). Raise its capacity {available.raise_capacity}, add nodes, "
                "or remove interfaces.",
                available.urn,
            )


def _check_resource_known(args: StackValidationArgs, report: ReportViolation) -> None:
    available = supply(args)
    if available is None:
        return
    advertised = sorted(available.capacities)
    for nad in nads(args.resources).values():
        if not nad.macvtap or not isinstance(nad.resource_name, str):
            continue  # missing or unknown annotations: macvtap-nad-resource-annotation, or preview
        if nad.resource_name not in available.capacities:
            report(
                f"NAD '{nad.resource.name}' requests '{nad.resource_name}', which {available.advertiser} "
                f"does not advertise (it has: {', '.join(advertised)}), so its VMs never schedule "
                f"(Insufficient {nad.resource_name}). Point the NAD at one of those, or {available.add_resource}.",
                nad.resource.urn,
            )


CAPACITY: Final = StackValidationPolicy(
    name="macvtap-capacity",
    description="For every macvtap resource, the interfaces the stack's running VMs request fit into its capacity "
    "times the nodes that offer it (from the stack's device plugin, or a vms stack's platform stack).",
    validate=_check_capacity,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=CAPACITY_SCHEMA,
)
RESOURCE_KNOWN: Final = StackValidationPolicy(
    name="macvtap-resource-known",
    description="Every macvtap NAD requests a resource the stack's device plugin config, or a vms stack's platform stack, advertises.",
    validate=_check_resource_known,
    enforcement_level=EnforcementLevel.MANDATORY,
)
