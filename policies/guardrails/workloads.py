"""VMs of either kind and their macvtap interfaces: the one place that knows where a VM spec lives.

A VirtualMachineInstance carries the VM spec at ``spec``; a VirtualMachine carries the same
spec at ``spec.template.spec`` (kubevirt.io/v1 VirtualMachineSpec.template). Every VM-shape
policy reads VMs through ``workload()`` so both kinds are checked alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource

from .kinds import VM_TYPE, VMI_TYPE
from .values import UNKNOWN, Unknown, at, plain


@dataclass(frozen=True)
class Workload:
    """A VMI, or the VMI template of a VirtualMachine."""

    label: str  # "VirtualMachineInstance vm1", for messages
    namespace: Any  # str or UNKNOWN
    spec: Any  # the VMI spec: dict, UNKNOWN or None
    runs: Any  # True, False (a halted VirtualMachine) or UNKNOWN


def workload(resource_type: str, name: str, props: dict[str, Any]) -> Workload | None:
    """The VM a resource of either kind describes; None for any other resource."""
    if resource_type == VMI_TYPE:
        kind, spec, runs = "VirtualMachineInstance", at(props, "spec"), True
    elif resource_type == VM_TYPE:
        kind, spec, runs = "VirtualMachine", at(props, "spec", "template", "spec"), _virtual_machine_runs(props)
    else:
        return None
    metadata_name = at(props, "metadata", "name")
    shown = metadata_name if isinstance(metadata_name, str) else name
    namespace = at(props, "metadata", "namespace")
    return Workload(f"{kind} {shown}", "default" if namespace is None else namespace, spec, runs)


def _virtual_machine_runs(props: dict[str, Any]) -> Any:
    """Whether KubeVirt keeps a VMI (and with it the pod's devices) for this VirtualMachine.

    Only ``runStrategy: Halted`` creates none; Manual may be started at any time, so it counts.
    ``running: false`` is the deprecated spelling of Halted (the two fields are mutually
    exclusive; KubeVirt's docs replaced ``running: false`` with ``runStrategy: Halted``).
    """
    strategy = at(props, "spec", "runStrategy")
    if strategy is UNKNOWN:
        return UNKNOWN
    if strategy is not None:
        return strategy != "Halted"
    running = at(props, "spec", "running")
    return UNKNOWN if running is UNKNOWN else running is not False


@dataclass(frozen=True)
class MacvtapInterface:
    name: str
    legacy: bool  # the core `macvtap: {}` binding, discontinued in KubeVirt v1.3
    mac: Any  # str, UNKNOWN or None
    network: Any  # (namespace, NAD name), UNKNOWN or None


def _interfaces(spec: Any) -> list[dict[str, Any]] | Unknown:
    interfaces = at(spec, "domain", "devices", "interfaces")
    if interfaces is UNKNOWN or (isinstance(interfaces, list) and UNKNOWN in interfaces):
        return UNKNOWN
    if not isinstance(interfaces, list):
        return []
    return [iface for iface in interfaces if isinstance(iface, dict)]


def _is_macvtap(iface: dict[str, Any]) -> bool:
    return "macvtap" in iface or at(iface, "binding", "name") == "macvtap"


def macvtap_interfaces(vm: Workload) -> list[MacvtapInterface] | Unknown:
    """The macvtap-bound interfaces of a workload, with the NAD each one's network points at."""
    interfaces = _interfaces(vm.spec)
    if not isinstance(interfaces, list):
        return UNKNOWN
    networks = at(vm.spec, "networks")
    found = []
    for iface in interfaces:
        if not _is_macvtap(iface):
            continue
        name = iface.get("name")
        network: Any = None
        if networks is UNKNOWN:
            network = UNKNOWN
        elif isinstance(networks, list):
            for entry in networks:
                if at(entry, "name") == name:
                    network = _nad_reference(at(entry, "multus", "networkName"), vm.namespace)
        found.append(MacvtapInterface(str(name), "macvtap" in iface, iface.get("macAddress"), network))
    return found


def _nad_reference(network_name: Any, namespace: Any) -> Any:
    """(namespace, name) of a multus networkName: "name" (the VMI's namespace) or "namespace/name"."""
    if network_name is UNKNOWN or namespace is UNKNOWN:
        return UNKNOWN
    if not isinstance(network_name, str) or not network_name:
        return None
    if "/" in network_name:
        ns, _, name = network_name.partition("/")
        return (ns, name)
    return (namespace, network_name)


@dataclass(frozen=True)
class Attachment:
    """One macvtap interface of one VM in the stack."""

    resource: PolicyResource
    vm: Workload
    iface: MacvtapInterface


def attachments(resources: Sequence[PolicyResource]) -> list[Attachment]:
    """Every known macvtap interface in the stack (a VM whose interfaces are unknown adds none)."""
    found: list[Attachment] = []
    for resource in resources:
        vm = workload(resource.resource_type, resource.name, plain(resource.props))
        if vm is None:
            continue
        interfaces = macvtap_interfaces(vm)
        if isinstance(interfaces, list):
            found.extend(Attachment(resource, vm, iface) for iface in interfaces)
    return found
