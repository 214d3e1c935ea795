"""Supply and demand of macvtap devices: every NIC fits into capacity x nodes, and every NAD's resource exists."""

from __future__ import annotations

from collections.abc import Sequence
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
from .kinds import DEVICE_PLUGIN_CONF_KEY, NODE_CNI_INSTALL_COMPONENT, REMOTE_COMMAND_TYPE, has_ancestor
from .nad import nads
from .values import UNKNOWN, at, int_knob, plain, whole_number
from .workloads import attachments


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


CAPACITY_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "nodeCount": {
            "type": "integer",
            "minimum": 1,
            "default": 1,
            "description": "Nodes that run the macvtap device plugin. Used when the stack does not install "
            "the CNI on its nodes itself (or their addresses are not known yet, in preview).",
        },
    }
)


def _check_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    dp_config = device_plugin_config(args.resources)
    if dp_config is None or dp_config.capacities is UNKNOWN:
        return
    # In preview some VMs' interfaces may be unknown: the known demand is a lower bound, so an
    # excess found is real.
    vm_nics = attachments(args.resources)
    nads_by_ref = nads(args.resources)
    managed_nodes = _managed_node_count(args.resources)
    if managed_nodes is not None:
        nodes, nodes_from = managed_nodes, "distinct hosts of the stack's NodeCniInstall commands"
    else:
        nodes = int_knob(args.get_config(), CAPACITY_SCHEMA, "nodeCount")
        nodes_from = "policy config nodeCount"
    demand: dict[str, list[str]] = {}
    for attachment in vm_nics:
        nad = nads_by_ref.get(attachment.iface.network) if isinstance(attachment.iface.network, tuple) else None
        if nad is not None and isinstance(nad.resource_name, str):
            demand.setdefault(nad.resource_name, []).append(f"{attachment.resource.name}/{attachment.iface.name}")
    for resource_name, unsorted_users in sorted(demand.items()):
        users = sorted(unsorted_users)
        capacity = dp_config.capacities.get(resource_name)
        if not isinstance(capacity, int):
            continue  # not advertised (macvtap-resource-known) or an invalid capacity (macvtap-device-plugin-config)
        supply = capacity * nodes
        if len(users) > supply:
            report(
                f"macvtap resource '{resource_name}': the stack's VMs request {len(users)} interfaces "
                f"({', '.join(users)}) but only {supply} exist (capacity {capacity} per node x {nodes} "
                f"node(s), from {nodes_from}). Raise its capacity in {DEVICE_PLUGIN_CONF_KEY} of "
                f"'{dp_config.resource.name}', add nodes, or remove interfaces.",
                dp_config.resource.urn,
            )


def _check_resource_known(args: StackValidationArgs, report: ReportViolation) -> None:
    dp_config = device_plugin_config(args.resources)
    if dp_config is None or dp_config.capacities is UNKNOWN:
        return
    advertised = sorted(dp_config.capacities)
    for nad in nads(args.resources).values():
        if not nad.macvtap or not isinstance(nad.resource_name, str):
            continue  # missing or unknown annotations: macvtap-nad-resource-annotation, or preview
        if nad.resource_name not in dp_config.capacities:
            report(
                f"NAD '{nad.resource.name}' requests '{nad.resource_name}', which the device plugin config "
                f"'{dp_config.resource.name}' does not advertise (it has: {', '.join(advertised)}), so its "
                f"VMs never schedule (Insufficient {nad.resource_name}). Point the NAD at one of those, or add "
                f"the device to {DEVICE_PLUGIN_CONF_KEY}.",
                nad.resource.urn,
            )



CAPACITY: Final = StackValidationPolicy(
    name="macvtap-capacity",
    description="For every macvtap resource, the interfaces the stack's VMs request fit into its capacity "
    "times the nodes that offer it.",
    validate=_check_capacity,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=CAPACITY_SCHEMA,
)

RESOURCE_KNOWN: Final = StackValidationPolicy(
    name="macvtap-resource-known",
    description="Every macvtap NAD requests a resource the stack's device plugin config advertises.",
    validate=_check_resource_known,
    enforcement_level=EnforcementLevel.MANDATORY,
)
