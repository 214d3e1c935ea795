"""``macvtapPlatform``: what a platform stack tells the VM stacks that run on it.

The shape is a contract shared with the policy pack (a `vms` stack's capacity check reads it):

    {"kubevirtVersion": "v1.9.0",
     "networks": {"<network>": {"resourceName": "macvtap.network.kubevirt.io/<network>",
                                "capacityPerNode": 50, "lowerDevice": "eth0", "mode": "bridge",
                                "mtu": 9000}},  # mtu only where macvtap.lowerDevices[].mtu is set
     "nodeCount": 2 | None,     # ssh mode: the nodes this stack installs; daemonset mode: unknown
     "cniInstall": "ssh" | "daemonset"}

``platform_export`` builds it from a platform's typed config; ``read_platform_export`` turns what a
StackReference returns back into typed form, refusing anything else with the
``kvm-in-a-pod:platformStack`` key path. Both are pure.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

import pulumi

from components.config import NAMESPACE, ConfigError, StackConfig, key_path
from components.device_plugin import resource_name_for

EXPORT_NAME = "macvtapPlatform"
PLATFORM_STACK_KEY = key_path(("platformStack",))


@dataclass(frozen=True)
class PlatformNetwork:
    resource_name: str
    capacity_per_node: int
    lower_device: str
    mode: str
    mtu: int | None = None  # the MTU the network carries, where the platform says


@dataclass(frozen=True)
class PlatformExport:
    kubevirt_version: str
    networks: dict[str, PlatformNetwork]
    node_count: int | None
    cni_install: str

    @property
    def resource_names(self) -> dict[str, str]:
        return {name: network.resource_name for name, network in self.networks.items()}

    @property
    def network_mtus(self) -> dict[str, int | None]:
        return {name: network.mtu for name, network in sorted(self.networks.items())}

    def to_output(self) -> dict[str, Any]:
        """The plain JSON object the stack exports (keys sorted, so the export is byte-stable)."""
        return {
            "cniInstall": self.cni_install,
            "kubevirtVersion": self.kubevirt_version,
            "networks": networks_output(self.networks),
            "nodeCount": self.node_count,
        }


class MacvtapNetwork(TypedDict):
    """One network of the platform, as a platform stack's `macvtapPlatform` export lists it under `networks`."""

    resourceName: pulumi.Input[str]
    """The device plugin resource that gives a VM a macvtap on this network (`macvtap.network.kubevirt.io/<network>`)."""
    capacityPerNode: pulumi.Input[int]
    """How many macvtap devices each node offers on this network."""
    lowerDevice: pulumi.Input[str]
    """The node interface the macvtaps sit on (e.g. `eth0`)."""
    mode: pulumi.Input[str]
    """The macvtap mode: `bridge`, `vepa` or `private`."""
    mtu: NotRequired[pulumi.Input[int]]
    """The MTU the network carries, where the platform says: no NIC on it may ask for more."""


def networks_output(networks: Mapping[str, PlatformNetwork]) -> dict[str, MacvtapNetwork]:
    """The export's ``networks`` (what ``MacvtapNetworks`` takes as its ``networks``), keys sorted."""
    return {name: _network_output(network) for name, network in sorted(networks.items())}


def _network_output(network: PlatformNetwork) -> MacvtapNetwork:
    output: MacvtapNetwork = {
        "capacityPerNode": network.capacity_per_node,
        "lowerDevice": network.lower_device,
        "mode": network.mode,
        "resourceName": network.resource_name,
    }
    if network.mtu is not None:
        output["mtu"] = network.mtu
    return cast(MacvtapNetwork, dict(sorted(output.items())))


def platform_export(config: StackConfig) -> PlatformExport:
    """The export of an `all` or `platform` stack, from its config alone."""
    return PlatformExport(
        kubevirt_version=config.kubevirt.version,
        networks={
            device.name: PlatformNetwork(
                resource_name=resource_name_for(device.name),
                capacity_per_node=device.capacity,
                lower_device=device.lower_device,
                mode=device.mode,
                mtu=device.mtu,
            )
            for device in config.macvtap.lower_devices
        },
        # In daemonset mode the device plugin runs on whatever nodes match its selector: the
        # program does not know how many there are.
        node_count=len(config.nodes) if config.ssh_mode else None,
        cni_install=config.macvtap.cni_install,
    )


def read_platform_export(value: Any, platform_stack: str) -> PlatformExport:
    """The referenced stack's ``macvtapPlatform`` output, or a ConfigError naming platformStack.

    ``value`` is what ``StackReference.get_output`` gave: ``None`` when the stack has no such output.
    Numbers travel as floats through the engine's protobuf Structs, so whole floats are accepted.
    """
    where = f"stack {platform_stack!r}"
    if value is None:
        raise ConfigError(
            [
                (
                    PLATFORM_STACK_KEY,
                    f"{where} exports no {EXPORT_NAME}: name a stack of this project with role platform or all"
                    f" (set {NAMESPACE}:role there) that has been deployed since it exports it",
                )
            ]
        )
    if not isinstance(value, dict):
        raise ConfigError([(PLATFORM_STACK_KEY, f"{where} exports a malformed {EXPORT_NAME}: is a {type(value).__name__}, not an object")])
    networks, problems = read_platform_networks(value.get("networks"))
    kubevirt_version = value.get("kubevirtVersion")
    if not isinstance(kubevirt_version, str):
        problems.append("kubevirtVersion: expected a version string")
    # null (daemonset mode) arrives as an absent key: the SDK drops None values when it reads objects.
    node_count = value.get("nodeCount")
    if node_count is not None:
        node_count = _whole(node_count)
        if node_count is None or node_count < 1:
            problems.append("nodeCount: expected a positive whole number or null")
    cni_install = value.get("cniInstall")
    if cni_install not in ("ssh", "daemonset"):
        problems.append("cniInstall: expected 'ssh' or 'daemonset'")
    if problems:
        raise ConfigError([(PLATFORM_STACK_KEY, f"{where} exports a malformed {EXPORT_NAME}: {problem}") for problem in problems])
    assert isinstance(kubevirt_version, str) and isinstance(cni_install, str)  # checked above
    return PlatformExport(kubevirt_version, networks, node_count, cni_install)


def read_platform_networks(value: Any) -> tuple[dict[str, PlatformNetwork], list[str]]:
    """The export's ``networks`` in typed form, and what is wrong with it (``networks.<name>: ...``), one rule for
    a `vms` stack's StackReference and for ``MacvtapNetworks``' ``networks`` input."""
    if not isinstance(value, dict) or not value:
        return {}, ["networks: expected an object with at least one network"]
    networks: dict[str, PlatformNetwork] = {}
    problems: list[str] = []
    for name, network in sorted(value.items()):
        parsed = _network(network)
        if isinstance(parsed, str):
            problems.append(f"networks.{name}: {parsed}")
        else:
            networks[name] = parsed
    return networks, problems


def _network(value: Any) -> PlatformNetwork | str:
    if not isinstance(value, dict):
        return "expected an object"
    resource_name, lower_device, mode = value.get("resourceName"), value.get("lowerDevice"), value.get("mode")
    capacity = _whole(value.get("capacityPerNode"))
    if not isinstance(resource_name, str) or not resource_name:
        return "resourceName: expected the device plugin's resource name"
    if capacity is None or capacity < 1:
        return "capacityPerNode: expected a positive whole number"
    if not isinstance(lower_device, str) or not isinstance(mode, str):
        return "lowerDevice and mode: expected strings"
    mtu = _whole(value["mtu"]) if "mtu" in value else None
    if "mtu" in value and (mtu is None or mtu < 68):
        return "mtu: expected a whole number of at least 68"
    return PlatformNetwork(resource_name, capacity, lower_device, mode, mtu)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
