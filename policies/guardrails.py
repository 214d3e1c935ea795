"""The policies of the ``macvtap-guardrails`` pack: KubeVirt VMs on a macvtap network.

Kept apart from ``__main__.py`` because constructing the ``PolicyPack`` starts a gRPC server
that never returns: tests and the offline runner import this module, the CLI runs
``__main__.py``. Only the standard library and ``pulumi_policy`` are imported, so the module
loads both as ``policies.guardrails`` (repo root) and as ``guardrails`` (the CLI's
``runpy.run_path`` puts ``policies/`` first on ``sys.path``).

Under ``pulumi preview`` some values are not known yet. The analyzer hands policies
unknown-checking proxies that raise ``UnknownValueError`` on access (pulumi_policy/proxy.py),
which would abort a whole policy; every policy therefore first turns the props into plain
data with ``plain()``, where unknowns become ``UNKNOWN``, and skips a check whose input is
``UNKNOWN`` instead of failing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

PACK_NAME: Final = "macvtap-guardrails"

NAD_TYPE: Final = "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"
VMI_TYPE: Final = "kubernetes:kubevirt.io/v1:VirtualMachineInstance"
VM_TYPE: Final = "kubernetes:kubevirt.io/v1:VirtualMachine"
CONFIGMAP_TYPE: Final = "kubernetes:core/v1:ConfigMap"
KUBEVIRT_TYPE: Final = "kubernetes:kubevirt.io/v1:KubeVirt"
DAEMONSET_TYPE: Final = "kubernetes:apps/v1:DaemonSet"
DEVICE_PLUGIN_COMPONENT: Final = "kvm-in-a-pod:index:MacvtapDevicePlugin"
NODE_CNI_INSTALL_COMPONENT: Final = "kvm-in-a-pod:index:NodeCniInstall"
REMOTE_COMMAND_TYPE: Final = "command:remote:Command"
COPY_TO_REMOTE_TYPE: Final = "command:remote:CopyToRemote"

RESOURCE_NAME_ANNOTATION: Final = "k8s.v1.cni.cncf.io/resourceName"
MACVTAP_RESOURCE_PREFIX: Final = "macvtap.network.kubevirt.io/"
DEVICE_PLUGIN_CONFIGMAP: Final = "macvtap-deviceplugin-config"
DEVICE_PLUGIN_CONF_KEY: Final = "DP_MACVTAP_CONF"
# macvtap-cni: "mode" defaults to bridge, "capacity" to 100; passthru is not supported.
DEVICE_MODES: Final = ("bridge", "vepa", "private")
DEFAULT_DEVICE_CAPACITY: Final = 100

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# The name part of a Kubernetes extended resource (a qualified name), as in
# "macvtap.network.kubevirt.io/dataplane".
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


# --- plain data, unknowns and knobs -------------------------------------------------------


class _Unknown:
    """A value the engine does not know yet (preview)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

_UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,  # also pulumi.runtime.rpc.UNKNOWN, as recorded under mocks
    }
)


def plain(value: Any) -> Any:
    """``value`` as plain dicts and lists: proxies read out, unknowns ``UNKNOWN``.

    Secrets need no unwrapping: the analyzer deserializes them to their plain values.
    """
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in list(value):
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def at(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``: ``None`` where a step is missing, ``UNKNOWN`` where one is unknown."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _knob(config: Mapping[str, Any], schema: PolicyConfigSchema, key: str) -> Any:
    """A config knob: the configured value, else the schema default (the CLI fills defaults in too)."""
    if key in config:
        return config[key]
    return schema.properties[key]["default"]


def _int_knob(config: Mapping[str, Any], schema: PolicyConfigSchema, key: str) -> int:
    # Policy config crosses the wire as a protobuf Struct: integers arrive as floats.
    return int(_knob(config, schema, key))


def _whole_number(value: Any) -> int | None:
    """An integral number as int (JSON and protobuf give floats); anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# --- Kubernetes quantities ----------------------------------------------------------------

# k8s.io/apimachinery resource.Quantity: binary suffixes Ki..Ei (powers of 1024), decimal
# n u m k M G T P E (powers of 1000), or a decimal exponent. Also the knob's JSON-schema pattern.
QUANTITY_PATTERN: Final = r"^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)
_BINARY_SUFFIXES: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES: Final = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity ("1024M", "1Gi", "1.5G", "1e9", 1073741824) in base units; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value)) if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if match is None:
        return None
    number, suffix = Decimal(match[1]), match[2] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * Decimal(1024) ** _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * Decimal(10) ** _DECIMAL_SUFFIXES[suffix]
    if suffix:
        return number * Decimal(10) ** int(suffix[1:])
    return number


# --- the shapes the program registers ------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A VMI, or the VMI template of a VirtualMachine."""

    label: str  # "VirtualMachineInstance vm1", for messages
    namespace: Any  # str or UNKNOWN
    spec: Any  # the VMI spec: dict, UNKNOWN or None


def workload(resource_type: str, name: str, props: dict[str, Any]) -> Workload | None:
    if resource_type == VMI_TYPE:
        kind, spec = "VirtualMachineInstance", at(props, "spec")
    elif resource_type == VM_TYPE:
        kind, spec = "VirtualMachine", at(props, "spec", "template", "spec")
    else:
        return None
    metadata_name = at(props, "metadata", "name")
    shown = metadata_name if isinstance(metadata_name, str) else name
    namespace = at(props, "metadata", "namespace")
    return Workload(f"{kind} {shown}", "default" if namespace is None else namespace, spec)


@dataclass(frozen=True)
class MacvtapInterface:
    name: str
    legacy: bool  # the core `macvtap: {}` binding, discontinued in KubeVirt v1.3
    mac: Any  # str, UNKNOWN or None
    network: Any  # (namespace, NAD name), UNKNOWN or None


def _interfaces(spec: Any) -> list[dict[str, Any]] | _Unknown:
    interfaces = at(spec, "domain", "devices", "interfaces")
    if interfaces is UNKNOWN or (isinstance(interfaces, list) and UNKNOWN in interfaces):
        return UNKNOWN
    if not isinstance(interfaces, list):
        return []
    return [iface for iface in interfaces if isinstance(iface, dict)]


def _is_macvtap(iface: dict[str, Any]) -> bool:
    return "macvtap" in iface or at(iface, "binding", "name") == "macvtap"


def macvtap_interfaces(vm: Workload) -> list[MacvtapInterface] | _Unknown:
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


def _macvtap_plugin(cni_config: Any) -> dict[str, Any] | None:
    """The macvtap plugin's entry of a CNI config (a single config or a conflist), if any."""
    if not isinstance(cni_config, dict):
        return None
    if cni_config.get("type") == "macvtap":
        return cni_config
    for plugin in cni_config.get("plugins") or []:
        if isinstance(plugin, dict) and plugin.get("type") == "macvtap":
            return plugin
    return None


def _parse_cni_config(props: dict[str, Any]) -> Any:
    """The NAD's parsed spec.config; UNKNOWN if not known; None if absent.

    Raises ValueError (not JSON) or TypeError (not a string).
    """
    text = at(props, "spec", "config")
    if text is UNKNOWN or text is None:
        return text
    return json.loads(text)


def is_device_plugin_configmap(resource_type: str, props: dict[str, Any]) -> bool:
    return resource_type == CONFIGMAP_TYPE and at(props, "metadata", "name") == DEVICE_PLUGIN_CONFIGMAP


def _has_ancestor(resource: PolicyResource, resource_type: str) -> bool:
    parent = resource.parent
    while parent is not None:
        if parent.resource_type == resource_type:
            return True
        parent = parent.parent
    return False


# --- resource policies --------------------------------------------------------------------


def _check_nad_resource_annotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NAD_TYPE:
        return
    props = plain(args.props)
    try:
        cni_config = _parse_cni_config(props)
    except (ValueError, TypeError):
        return  # macvtap-nad-config reports configs that are not JSON
    if _macvtap_plugin(cni_config) is None:
        return
    annotation = at(props, "metadata", "annotations", RESOURCE_NAME_ANNOTATION)
    if annotation is UNKNOWN:
        return
    expected = f"{MACVTAP_RESOURCE_PREFIX}<device name from {DEVICE_PLUGIN_CONF_KEY}>"
    if annotation is None:
        report(
            f"NAD '{args.name}' uses the macvtap CNI plugin but has no '{RESOURCE_NAME_ANNOTATION}' "
            "annotation, so KubeVirt never asks the device plugin for a macvtap device and the VM "
            f"pod gets no tap device. Add the annotation '{RESOURCE_NAME_ANNOTATION}: {expected}'.",
            None,
        )
        return
    is_macvtap_resource = isinstance(annotation, str) and annotation.startswith(MACVTAP_RESOURCE_PREFIX)
    if not is_macvtap_resource or not _RESOURCE_NAME.match(annotation[len(MACVTAP_RESOURCE_PREFIX) :]):
        report(
            f"NAD '{args.name}' uses the macvtap CNI plugin but its '{RESOURCE_NAME_ANNOTATION}' annotation "
            f"is {annotation!r}, not a macvtap device plugin resource. Set it to '{expected}'.",
            None,
        )


NAD_CONFIG_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "minMtu": {
            "type": "integer",
            "minimum": 0,
            "default": 68,
            "description": "Smallest allowed CNI mtu (68 is the IPv4 minimum).",
        },
        "maxMtu": {
            "type": "integer",
            "minimum": 0,
            "default": 9000,
            "description": "Largest allowed CNI mtu (jumbo frames); it must not exceed the lower device's MTU.",
        },
    }
)


def _check_nad_config(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NAD_TYPE:
        return
    props = plain(args.props)
    annotation = at(props, "metadata", "annotations", RESOURCE_NAME_ANNOTATION)
    wants_macvtap = isinstance(annotation, str) and annotation.startswith(MACVTAP_RESOURCE_PREFIX)
    where = f"NAD '{args.name}'"
    try:
        cni_config = _parse_cni_config(props)
    except (ValueError, TypeError) as error:
        if wants_macvtap:
            report(
                f"{where}: spec.config is not valid JSON ({error}). Write it as a JSON object, "
                'e.g. {"cniVersion":"0.3.1","name":"...","type":"macvtap","mtu":1500}.',
                None,
            )
        return
    if cni_config is UNKNOWN:
        return
    if cni_config is None:
        if wants_macvtap:
            report(
                f"{where} requests the macvtap device '{annotation}' but has no spec.config, so Multus has no "
                'CNI plugin to run. Add spec.config, e.g. {"cniVersion":"0.3.1","name":"...","type":"macvtap"}.',
                None,
            )
        return
    plugin = _macvtap_plugin(cni_config)
    if plugin is None:
        if wants_macvtap:
            cni_type = at(cni_config, "type")
            report(
                f"{where} requests the macvtap device '{annotation}' but its CNI config type is "
                f'{cni_type!r}, not \'macvtap\'. Set "type": "macvtap" in spec.config.',
                None,
            )
        return
    if not isinstance(at(cni_config, "cniVersion"), str):
        report(f'{where}: the macvtap CNI config has no string \'cniVersion\'. Add one, e.g. "cniVersion": "0.3.1".', None)
    if "mtu" in plugin:
        mtu = plugin["mtu"]
        low = _int_knob(args.get_config(), NAD_CONFIG_SCHEMA, "minMtu")
        high = _int_knob(args.get_config(), NAD_CONFIG_SCHEMA, "maxMtu")
        whole = _whole_number(mtu)
        if whole is None or not low <= whole <= high:
            report(
                f"{where}: the macvtap CNI config has mtu {mtu!r}, outside {low}..{high}. "
                "Set an integer mtu in that range (no larger than the lower device's MTU), or drop it.",
                None,
            )
    if "deviceID" in plugin:
        report(
            f"{where}: the macvtap CNI config hard-codes deviceID {plugin['deviceID']!r}; Multus fills it in "
            "from the device the macvtap device plugin allocated to the pod. Remove deviceID.",
            None,
        )


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
    limit = _int_knob(args.get_config(), INTERFACES_PER_VM_SCHEMA, "maxMacvtapInterfaces")
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
    max_memory_text = _knob(config, VM_RESOURCE_LIMITS_SCHEMA, "maxMemory")
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
    max_cores = _int_knob(config, VM_RESOURCE_LIMITS_SCHEMA, "maxCpuCores")
    if isinstance(cores, (int, float)) and not isinstance(cores, bool) and cores > max_cores:
        report(
            f"{vm.label} asks for {cores:g} CPU cores, above the maximum {max_cores}. "
            "Lower spec.domain.cpu.cores, or raise maxCpuCores for this stack.",
            None,
        )


DEVICE_PLUGIN_CONFIG_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "maxCapacityPerDevice": {
            "type": "integer",
            "minimum": 1,
            "default": 1000,
            "description": "Largest capacity (macvtap devices per node) of one device plugin entry.",
        },
    }
)


def _check_device_plugin_config(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    if not is_device_plugin_configmap(args.resource_type, props):
        return
    where = f"ConfigMap '{args.name}' ({DEVICE_PLUGIN_CONFIGMAP})"
    text = at(props, "data", DEVICE_PLUGIN_CONF_KEY)
    if text is UNKNOWN:
        return
    if not isinstance(text, str):
        report(
            f"{where} has no data.{DEVICE_PLUGIN_CONF_KEY}, the device list the macvtap device plugin reads. "
            'Add it, e.g. [{"name":"dataplane","lowerDevice":"eth0","mode":"bridge","capacity":100}].',
            None,
        )
        return
    try:
        entries = json.loads(text)
    except ValueError as error:
        report(
            f"{where}: data.{DEVICE_PLUGIN_CONF_KEY} is not valid JSON ({error}). Write a JSON array of "
            "{name, lowerDevice, mode, capacity} objects.",
            None,
        )
        return
    if not isinstance(entries, list):
        report(
            f"{where}: data.{DEVICE_PLUGIN_CONF_KEY} is not a JSON array. "
            "Write a JSON array of {name, lowerDevice, mode, capacity} objects.",
            None,
        )
        return
    max_capacity = _int_knob(args.get_config(), DEVICE_PLUGIN_CONFIG_SCHEMA, "maxCapacityPerDevice")
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        at_entry = f"{where}: {DEVICE_PLUGIN_CONF_KEY}[{index}]"
        if not isinstance(entry, dict):
            report(f"{at_entry} is not an object. Each entry is {{name, lowerDevice, mode, capacity}}.", None)
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not _DNS1123_LABEL.match(name):
            report(
                f"{at_entry} has name {name!r}, not a DNS-1123 label; it becomes the node resource "
                f"'{MACVTAP_RESOURCE_PREFIX}<name>'. Use lower-case letters, digits and '-'.",
                None,
            )
        elif name in seen:
            report(f"{at_entry} repeats the name '{name}'; each name is one node resource. Rename or merge it.", None)
        else:
            seen.add(name)
        lower_device = entry.get("lowerDevice")
        if not isinstance(lower_device, str) or not lower_device:
            report(f'{at_entry} ({name!r}) has no lowerDevice. Name the host link the macvtap devices sit on, e.g. "eth0".', None)
        mode = entry.get("mode", "bridge")
        if mode not in DEVICE_MODES:
            report(
                f"{at_entry} ({name!r}) has mode {mode!r}; macvtap-cni supports {', '.join(DEVICE_MODES)} "
                "(not passthru). Pick one of those, or drop mode for bridge.",
                None,
            )
        capacity = entry.get("capacity", DEFAULT_DEVICE_CAPACITY)
        whole = _whole_number(capacity)
        if whole is None or not 1 <= whole <= max_capacity:
            report(
                f"{at_entry} ({name!r}) has capacity {capacity!r}, outside 1..{max_capacity}. Set an integer "
                "capacity in that range (devices per node).",
                None,
            )


# --- stack policies -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Attachment:
    """One macvtap interface of one VM in the stack."""

    resource: PolicyResource
    vm: Workload
    iface: MacvtapInterface


def _attachments(resources: Sequence[PolicyResource]) -> list[_Attachment]:
    """Every known macvtap interface in the stack (a VM whose interfaces are unknown adds none)."""
    found: list[_Attachment] = []
    for resource in resources:
        vm = workload(resource.resource_type, resource.name, plain(resource.props))
        if vm is None:
            continue
        interfaces = macvtap_interfaces(vm)
        if isinstance(interfaces, list):
            found.extend(_Attachment(resource, vm, iface) for iface in interfaces)
    return found


@dataclass(frozen=True)
class _Nad:
    resource: PolicyResource
    macvtap: bool
    resource_name: Any  # the k8s.v1.cni.cncf.io/resourceName annotation: str, UNKNOWN or None


def _nads(resources: Sequence[PolicyResource]) -> dict[Any, _Nad]:
    """The stack's NADs by (namespace, name)."""
    found: dict[Any, _Nad] = {}
    for resource in resources:
        if resource.resource_type != NAD_TYPE:
            continue
        props = plain(resource.props)
        name = at(props, "metadata", "name")
        namespace = at(props, "metadata", "namespace")
        try:
            macvtap = _macvtap_plugin(_parse_cni_config(props)) is not None
        except (ValueError, TypeError):
            macvtap = False
        annotation = at(props, "metadata", "annotations", RESOURCE_NAME_ANNOTATION)
        if isinstance(annotation, str) and annotation.startswith(MACVTAP_RESOURCE_PREFIX):
            macvtap = True
        found[("default" if namespace is None else namespace, name)] = _Nad(resource, macvtap, annotation)
    return found


@dataclass(frozen=True)
class _DevicePluginConfig:
    resource: PolicyResource
    capacities: Any  # {node resource name: capacity per node}, or UNKNOWN when it cannot be told


def _device_plugin_config(resources: Sequence[PolicyResource]) -> _DevicePluginConfig | None:
    """What the stack's device plugin ConfigMap advertises; None if the stack has none.

    Capacities are UNKNOWN while the config is not known (preview), not a JSON array
    (macvtap-device-plugin-config reports that), or "[]": then the plugin advertises every
    physical link under its own name, which no stack resource tells.
    """
    for resource in resources:
        props = plain(resource.props)
        if not is_device_plugin_configmap(resource.resource_type, props):
            continue
        text = at(props, "data", DEVICE_PLUGIN_CONF_KEY)
        try:
            entries = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            entries = None
        if not isinstance(entries, list) or not entries:
            return _DevicePluginConfig(resource, UNKNOWN)
        capacities: dict[str, Any] = {}
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                capacity = _whole_number(entry.get("capacity", DEFAULT_DEVICE_CAPACITY))
                capacities[MACVTAP_RESOURCE_PREFIX + entry["name"]] = UNKNOWN if capacity is None else capacity
        return _DevicePluginConfig(resource, capacities)
    return None


def _managed_node_count(resources: Sequence[PolicyResource]) -> int | None:
    """Distinct SSH targets (host, port) of the NodeCniInstall commands; None if none or not known."""
    nodes: set[tuple[Any, Any]] = set()
    for resource in resources:
        if resource.resource_type != REMOTE_COMMAND_TYPE or not _has_ancestor(resource, NODE_CNI_INSTALL_COMPONENT):
            continue
        connection = at(plain(resource.props), "connection")
        host, port = at(connection, "host"), at(connection, "port")
        if host is UNKNOWN or port is UNKNOWN or not isinstance(host, str):
            return None
        nodes.add((host, 22 if port is None else _whole_number(port)))
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
    dp_config = _device_plugin_config(args.resources)
    if dp_config is None or dp_config.capacities is UNKNOWN:
        return
    # In preview some VMs' interfaces may be unknown: the known demand is a lower bound, so an
    # excess found is real.
    attachments = _attachments(args.resources)
    nads = _nads(args.resources)
    managed_nodes = _managed_node_count(args.resources)
    if managed_nodes is not None:
        nodes, nodes_from = managed_nodes, "distinct hosts of the stack's NodeCniInstall commands"
    else:
        nodes = _int_knob(args.get_config(), CAPACITY_SCHEMA, "nodeCount")
        nodes_from = "policy config nodeCount"
    demand: dict[str, list[str]] = {}
    for attachment in attachments:
        nad = nads.get(attachment.iface.network) if isinstance(attachment.iface.network, tuple) else None
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
    dp_config = _device_plugin_config(args.resources)
    if dp_config is None or dp_config.capacities is UNKNOWN:
        return
    advertised = sorted(dp_config.capacities)
    for nad in _nads(args.resources).values():
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


def _normal_mac(mac: str) -> str:
    return mac.strip().lower().replace("-", ":")


def _check_unique_macs(args: StackValidationArgs, report: ReportViolation) -> None:
    attachments = _attachments(args.resources)
    holders: dict[str, list[_Attachment]] = {}
    for attachment in attachments:
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
        resource.resource_type == DAEMONSET_TYPE and _has_ancestor(resource, DEVICE_PLUGIN_COMPONENT)
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


def _check_ssh_host_key_pinned(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type not in (REMOTE_COMMAND_TYPE, COPY_TO_REMOTE_TYPE):
            continue
        connection = at(plain(resource.props), "connection")
        host_key = at(connection, "hostKey")
        if connection is UNKNOWN or host_key is UNKNOWN or host_key:
            continue
        host = at(connection, "host")
        report(
            f"'{resource.name}' ({resource.resource_type}) connects to "
            f"{host if isinstance(host, str) else 'its node'} without connection.hostKey, so the SSH server "
            "key is not checked and a spoofed host would receive the commands and files. Pin the node's "
            f"public host key (ssh-keyscan -t ed25519 <host>) as hostKey.",
            resource.urn,
        )


# --- the pack -----------------------------------------------------------------------------

POLICIES: Final[list[Policy]] = [
    ResourceValidationPolicy(
        name="macvtap-nad-resource-annotation",
        description="A macvtap NetworkAttachmentDefinition names its device plugin resource "
        f"({RESOURCE_NAME_ANNOTATION}: {MACVTAP_RESOURCE_PREFIX}<name>).",
        validate=_check_nad_resource_annotation,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="macvtap-nad-config",
        description="A macvtap NetworkAttachmentDefinition's CNI config is valid JSON with cniVersion and type, "
        "an mtu within range, and no hand-set deviceID.",
        validate=_check_nad_config,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=NAD_CONFIG_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="macvtap-interfaces-per-vm",
        description="A VM attaches at most maxMacvtapInterfaces macvtap interfaces.",
        validate=_check_interfaces_per_vm,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=INTERFACES_PER_VM_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="macvtap-no-legacy-binding",
        description="No VM interface uses the core 'macvtap: {}' binding (discontinued in KubeVirt v1.3).",
        validate=_check_no_legacy_binding,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="vm-resource-limits",
        description="Every VM requests memory, and its memory and CPU cores stay within the stack's maxima.",
        validate=_check_vm_resource_limits,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=VM_RESOURCE_LIMITS_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="macvtap-device-plugin-config",
        description=f"The {DEVICE_PLUGIN_CONFIGMAP} ConfigMap's {DEVICE_PLUGIN_CONF_KEY} is a JSON array of "
        "uniquely named devices with a lower device, a supported mode and a sane capacity.",
        validate=_check_device_plugin_config,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=DEVICE_PLUGIN_CONFIG_SCHEMA,
    ),
    StackValidationPolicy(
        name="macvtap-capacity",
        description="For every macvtap resource, the interfaces the stack's VMs request fit into its capacity "
        "times the nodes that offer it.",
        validate=_check_capacity,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=CAPACITY_SCHEMA,
    ),
    StackValidationPolicy(
        name="macvtap-resource-known",
        description="Every macvtap NAD requests a resource the stack's device plugin config advertises.",
        validate=_check_resource_known,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="macvtap-unique-macs",
        description="No two macvtap interfaces in the stack share a MAC address.",
        validate=_check_unique_macs,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="vm-waits-for-platform",
        description="Every VM waits (through dependencies or parents) for the KubeVirt CR and the macvtap device plugin the stack deploys.",
        validate=_check_vm_waits_for_platform,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    StackValidationPolicy(
        name="ssh-host-key-pinned",
        description="Every remote command and copy pins the node's SSH host key (connection.hostKey).",
        validate=_check_ssh_host_key_pinned,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
]


def policy_named(name: str) -> Policy:
    for policy in POLICIES:
        if policy.name == name:
            return policy
    raise KeyError(name)
