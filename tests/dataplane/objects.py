"""A stack's objects as the dataplane consumes them, from the offline plan or a live API server.

Only what the dataplane programs read is kept: the device plugin's ``DP_MACVTAP_CONF`` (its
ConfigMap) and container command (its DaemonSet), every macvtap NetworkAttachmentDefinition
(``k8s.v1.cni.cncf.io/resourceName`` and ``spec.config``), and every VM object's macvtap NICs
(interface name, ``macAddress``, the NAD its network names). Anything missing is an error that
names the object: the dataplane must run on what the program emitted, never on a default.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline import plan

DEVICE_PLUGIN_CONFIG_MAP = "macvtap-deviceplugin-config"
DEVICE_PLUGIN_DAEMONSET = "macvtap-cni"
RESOURCE_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
VM_KINDS = ("VirtualMachineInstance", "VirtualMachine")


class ObjectsError(Exception):
    """The objects cannot drive a dataplane (a missing or malformed piece, named)."""


@dataclass(frozen=True)
class LowerDeviceEntry:
    """One entry of DP_MACVTAP_CONF."""

    name: str
    lower_device: str
    mode: str
    capacity: int

    @property
    def resource_name(self) -> str:
        return f"macvtap.network.kubevirt.io/{self.name}"


@dataclass(frozen=True)
class Nad:
    namespace: str
    name: str
    resource_name: str
    config_text: str  # spec.config, verbatim

    @property
    def config(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.config_text)
        return parsed


@dataclass(frozen=True)
class VmNic:
    interface: str  # the VM spec's interface (and network) name, e.g. macvtap0
    mac: str  # its macAddress ("" when the spec sets none)
    nad: tuple[str, str]  # (namespace, name) of the NAD its multus network names

    @property
    def pod_interface(self) -> str:
        """The pod interface KubeVirt asks Multus for: "pod" + 11 hex of sha256(network name).

        kubevirt pkg/network/namescheme GenerateHashedInterfaceName (maxIfaceNameLen 11,
        HashedIfacePrefix "pod").
        """
        return "pod" + hashlib.sha256(self.interface.encode()).hexdigest()[:11]


@dataclass(frozen=True)
class VmObject:
    kind: str
    namespace: str
    name: str
    nics: tuple[VmNic, ...]
    eviction_strategy: str | None


@dataclass(frozen=True)
class StackObjects:
    source: str  # "plan of <stack>" or "API server"
    device_plugin_config: tuple[LowerDeviceEntry, ...]
    device_plugin_command: tuple[str, ...]
    cni_install_command: tuple[str, ...] | None  # the DaemonSet's install-cni init container, daemonset mode
    nads: Mapping[tuple[str, str], Nad]
    vms: tuple[VmObject, ...]
    nodes: tuple[str, ...]  # the stack's own node names (ssh mode), else empty
    node_scripts: Mapping[str, str]  # node -> the plan's nodes/<node>.sh (ssh mode, plan source)

    def vm(self, name: str) -> VmObject:
        return next(vm for vm in self.vms if vm.name == name)

    def entry(self, resource_name: str) -> LowerDeviceEntry:
        return next(entry for entry in self.device_plugin_config if entry.resource_name == resource_name)

    def nad_of(self, nic: VmNic) -> Nad:
        return self.nads[nic.nad]

    def lower_devices(self) -> dict[str, tuple[int, bool]]:
        """lower device -> (the largest MTU a NAD on it asks for, at least 1500; some network on it is VEPA)."""
        devices: dict[str, tuple[int, bool]] = {}
        for entry in self.device_plugin_config:
            mtu, vepa = devices.get(entry.lower_device, (1500, False))
            for nad in self.nads.values():
                if nad.resource_name == entry.resource_name:
                    mtu = max(mtu, int(nad.config.get("mtu", 1500)))
            devices[entry.lower_device] = (mtu, vepa or entry.mode == "vepa")
        return devices


def combine(parts: Sequence[StackObjects]) -> StackObjects:
    """A platform stack's objects with its vms stacks' (the platform/team split)."""
    platform = [part for part in parts if part.device_plugin_config]
    if len(platform) != 1:
        raise ObjectsError(f"expected exactly one stack with the device plugin among {[p.source for p in parts]}")
    (base,) = platform
    nads = {key: nad for part in parts for key, nad in part.nads.items()}
    return StackObjects(
        source=" + ".join(part.source for part in parts),
        device_plugin_config=base.device_plugin_config,
        device_plugin_command=base.device_plugin_command,
        cni_install_command=base.cni_install_command,
        nads=nads,
        vms=tuple(vm for part in parts for vm in part.vms),
        nodes=base.nodes,
        node_scripts=base.node_scripts,
    )


# --- reading the objects --------------------------------------------------------------------


def from_manifests(
    source: str, objects: Iterable[Mapping[str, Any]], nodes: Sequence[str] = (), node_scripts: Mapping[str, str] | None = None
) -> StackObjects:
    """Pick the dataplane's objects out of a stack's Kubernetes objects."""
    config_map = daemonset = None
    nads: dict[tuple[str, str], Nad] = {}
    vms: list[VmObject] = []
    for obj in objects:
        kind, metadata = obj.get("kind"), obj.get("metadata") or {}
        name, namespace = metadata.get("name", ""), metadata.get("namespace", "")
        if kind == "ConfigMap" and name == DEVICE_PLUGIN_CONFIG_MAP:
            config_map = obj
        elif kind == "DaemonSet" and name == DEVICE_PLUGIN_DAEMONSET:
            daemonset = obj
        elif kind == "NetworkAttachmentDefinition":
            annotations = metadata.get("annotations") or {}
            config = (obj.get("spec") or {}).get("config")
            if RESOURCE_ANNOTATION not in annotations or not isinstance(config, str):
                raise ObjectsError(f"NAD {namespace}/{name} lacks the {RESOURCE_ANNOTATION} annotation or spec.config")
            nads[(namespace, name)] = Nad(namespace, name, annotations[RESOURCE_ANNOTATION], config)
        elif kind in VM_KINDS:
            vms.append(_vm(obj))
    entries: tuple[LowerDeviceEntry, ...] = ()
    command: tuple[str, ...] = ()
    install: tuple[str, ...] | None = None
    if config_map is not None or daemonset is not None:
        if config_map is None or daemonset is None:
            raise ObjectsError(
                f"{source}: the device plugin needs both ConfigMap {DEVICE_PLUGIN_CONFIG_MAP} and DaemonSet {DEVICE_PLUGIN_DAEMONSET}"
            )
        entries = tuple(
            LowerDeviceEntry(e["name"], e["lowerDevice"], e.get("mode", "bridge"), int(e.get("capacity", 100)))
            for e in json.loads(config_map["data"]["DP_MACVTAP_CONF"])
        )
        pod_spec = daemonset["spec"]["template"]["spec"]
        (container,) = [c for c in pod_spec["containers"] if c["name"] == DEVICE_PLUGIN_DAEMONSET]
        command = tuple(container["command"])
        init = [c for c in pod_spec.get("initContainers", []) if c["name"] == "install-cni"]
        install = tuple(init[0]["command"]) if init else None
    for vm in vms:
        for nic in vm.nics:
            if nic.nad not in nads:
                raise ObjectsError(
                    f"{vm.kind} {vm.namespace}/{vm.name}: network {nic.interface} names NAD {'/'.join(nic.nad)}, not in {source}"
                )
    return StackObjects(source, entries, command, install, nads, tuple(vms), tuple(nodes), dict(node_scripts or {}))


def _vm(obj: Mapping[str, Any]) -> VmObject:
    metadata = obj["metadata"]
    spec = obj["spec"] if obj["kind"] == "VirtualMachineInstance" else obj["spec"]["template"]["spec"]
    interfaces = {i["name"]: i for i in spec["domain"]["devices"]["interfaces"]}
    nics = []
    for network in spec["networks"]:
        interface = interfaces[network["name"]]
        if (interface.get("binding") or {}).get("name") != "macvtap":
            continue
        reference = network["multus"]["networkName"]
        namespace, _, name = reference.rpartition("/")
        nics.append(VmNic(network["name"], interface.get("macAddress", ""), (namespace or metadata["namespace"], name)))
    return VmObject(obj["kind"], metadata["namespace"], metadata["name"], tuple(nics), spec.get("evictionStrategy"))


def from_plan(stack: str, overrides: Mapping[str, Any] | None = None, platform_overrides: Mapping[str, Any] | None = None) -> StackObjects:
    """The stack's offline plan (``python -m offline.plan STACK --offline``), its manifests and node scripts.

    ``overrides`` and ``platform_overrides`` are the plan's ``--set`` and ``--platform-set``.
    """
    with tempfile.TemporaryDirectory(prefix="kvmdp-plan-") as out:
        argv = [stack, "--out", out, "--offline"]
        for flag, values in (("--set", overrides), ("--platform-set", platform_overrides)):
            for key, value in (values or {}).items():
                argv += [flag, f"{key}={json.dumps(value)}"]
        printed = io.StringIO()
        with redirect_stdout(printed), redirect_stderr(printed):
            code = plan.main(argv)
        if code != 0:
            raise ObjectsError(f"the offline plan of {stack} exited {code}:\n{printed.getvalue()}")
        root = Path(out)
        documents = [
            yaml.safe_load(path.read_text()) for path in sorted((root / "manifests").glob("*.yaml")) if "-remote-" not in path.name
        ]
        scripts = {path.stem: path.read_text() for path in sorted((root / "nodes").glob("*.sh"))}
    objects = [doc for doc in documents if isinstance(doc, dict) and "kind" in doc]
    return from_manifests(f"plan of {stack}", objects, tuple(scripts), scripts)


def from_api_server(kube: Any, namespaces: Sequence[str], device_plugin_namespace: str, nodes: Sequence[str] = ()) -> StackObjects:
    """The same objects read back from a live API server after ``pulumi up`` (tests/e2e/kube.py)."""
    objects: list[dict[str, Any]] = []
    for kind, name in (("ConfigMap", DEVICE_PLUGIN_CONFIG_MAP), ("DaemonSet", DEVICE_PLUGIN_DAEMONSET)):
        found = kube.get(kind, name, device_plugin_namespace)
        if found is None:
            raise ObjectsError(f"{kind} {device_plugin_namespace}/{name} is not in the API server")
        objects.append({**found, "kind": kind})
    for namespace in namespaces:
        for kind in ("NetworkAttachmentDefinition", *VM_KINDS):
            objects += [{**obj, "kind": kind} for obj in kube.list(kind, namespace)]
    return from_manifests("API server", objects, tuple(nodes))
