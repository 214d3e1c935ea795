"""The rules that relate several config keys: the role's rules, references, uniqueness and ssh mode.

They run on every part of the config that validated on its own (``ValidParts``), so one run
reports every problem: a field error in one VM does not hide another VM's unknown network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from components.config.models import (
    KUBEVIRT_NAMESPACE,
    NAMESPACE,
    PLATFORM_KEYS,
    VM,
    KubeVirtConfig,
    LowerDevice,
    MacvtapAttachment,
    MacvtapConfig,
    MultusConfig,
    Node,
    VMKind,
    key_path,
    max_network_name_length,
    nad_name,
)


def role_problems(role: str, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a role forbids or requires, each at its own key."""
    problems: list[tuple[str, str]] = []
    if role == "vms":
        if "platformStack" not in values:
            problems.append(
                (
                    key_path(("platformStack",)),
                    "is required when role is vms: the stack that runs the platform, e.g. platform or <org>/kvm-in-a-pod/platform",
                )
            )
        for key in PLATFORM_KEYS:
            if key in values:
                problems.append(
                    (
                        key_path((key,)),
                        f"is a platform setting, not allowed when role is vms: set it on the stack named in {NAMESPACE}:platformStack",
                    )
                )
        if not values.get("vms"):
            problems.append((key_path(("vms",)), "a stack with role vms needs at least one VM"))
    else:
        if "platformStack" in values:
            problems.append(
                (key_path(("platformStack",)), f"is only allowed when role is vms (this stack's role is {role}: it runs its own platform)")
            )
        if role == "platform" and values.get("vms"):
            problems.append(
                (
                    key_path(("vms",)),
                    "a stack with role platform holds no VMs: list them in a stack with role vms that names this one in platformStack",
                )
            )
        if role == "platform" and "consolePassword" in values:
            problems.append(
                (
                    key_path(("consolePassword",)),
                    "is the VMs' console password; a stack with role platform holds no VMs: set it on the vms stacks",
                )
            )
    return problems


def console_password_problems(values: Mapping[str, Any], secret_keys: frozenset[str]) -> list[tuple[str, str]]:
    """The console password must be stored encrypted (the CLI then keeps it out of the stack file and
    the logs), and must reach every VM: a VM's own userData replaces the cloud-init it would go into."""
    if "consolePassword" not in values:
        return []
    problems: list[tuple[str, str]] = []
    if f"{NAMESPACE}:consolePassword" not in secret_keys:
        problems.append(
            (
                key_path(("consolePassword",)),
                f"must be stored as a secret: pulumi config set --secret {NAMESPACE}:consolePassword (it prompts for the password)",
            )
        )
    vms = values.get("vms")
    for index, vm in enumerate(vms if isinstance(vms, list) else []):
        if isinstance(vm, dict) and vm.get("userData") is not None:
            problems.append((key_path(("vms", index, "userData")), user_data_without_password(f"{NAMESPACE}:consolePassword")))
    return problems


def user_data_without_password(password_key: str) -> str:
    """Why a VM's own userData and the console password (set at ``password_key``) cannot go together."""
    return (
        f"replaces the generated cloud-init, where {password_key} goes, so this VM would not get it:"
        f" set the password in this userData (cloud-init's password:) and drop {password_key.rpartition(':')[2]}, or drop this userData"
    )


_Model_T = TypeVar("_Model_T", bound=BaseModel)


def _parsed(model: type[_Model_T], raw: Any) -> _Model_T | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _parsed_items(model: type[_Model_T], raw: Any) -> list[tuple[int, _Model_T]]:
    """``(index, item)`` for each list item that validates on its own."""
    items = raw if isinstance(raw, list) else []
    return [(index, item) for index, item in ((i, _parsed(model, raw_item)) for i, raw_item in enumerate(items)) if item is not None]


@dataclass(frozen=True)
class ValidParts:
    """The parts of a config that validate on their own, each with its index in the config.

    A cross-check runs on these, so a field error in one VM does not hide another VM's unknown
    network. A check that needs a part that did not validate is skipped: that part's own error
    is reported instead.
    """

    kubevirt: KubeVirtConfig | None
    multus: MultusConfig | None
    macvtap: MacvtapConfig | None  # with only its valid lower devices
    lower_devices: list[tuple[int, LowerDevice]]
    unparsed_networks: frozenset[str]  # names of lower devices that did not validate
    nodes: list[tuple[int, Node]]
    nodes_listed: bool  # any node at all, valid or not (an invalid one reports its own error)
    vms: list[tuple[int, VM]]
    # (VM index, attachment index, attachment), also for a VM that failed on another field.
    attachments: list[tuple[int, int, MacvtapAttachment]]
    ssh_private_key: str | None
    vm_namespace: str | None
    create_vm_namespace: bool | None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> ValidParts:
        macvtap = values.get("macvtap")
        raw_devices = macvtap.get("lowerDevices") if isinstance(macvtap, dict) else None
        device_list: list[Any] = raw_devices if isinstance(raw_devices, list) else []
        devices = _parsed_items(LowerDevice, device_list)
        valid_indexes = {index for index, _ in devices}
        unparsed = {
            raw["name"]
            for index, raw in enumerate(device_list)
            if index not in valid_indexes and isinstance(raw, dict) and isinstance(raw.get("name"), str)
        }
        only_valid_devices = {**macvtap, "lowerDevices": [device_list[index] for index, _ in devices]} if devices and macvtap else None
        key = values.get("sshPrivateKey")
        vms = values.get("vms")
        raw_vms: list[Any] = vms if isinstance(vms, list) else []
        attachments = [
            (vm_index, index, attachment)
            for vm_index, raw_vm in enumerate(raw_vms)
            for index, attachment in _parsed_items(MacvtapAttachment, raw_vm.get("macvtap") if isinstance(raw_vm, dict) else None)
        ]
        return cls(
            kubevirt=_parsed(KubeVirtConfig, values.get("kubevirt", {})),
            multus=_parsed(MultusConfig, values.get("multus", {})),
            macvtap=_parsed(MacvtapConfig, only_valid_devices) if only_valid_devices else None,
            lower_devices=devices,
            unparsed_networks=frozenset(unparsed),
            nodes=_parsed_items(Node, values.get("nodes")),
            nodes_listed=isinstance(values.get("nodes"), list) and bool(values.get("nodes")),
            vms=_parsed_items(VM, raw_vms),
            attachments=attachments,
            ssh_private_key=key if isinstance(key, str) else None,
            vm_namespace=values.get("vmNamespace") if isinstance(values.get("vmNamespace"), str) else None,
            create_vm_namespace=values.get("createVmNamespace", True) if isinstance(values.get("createVmNamespace", True), bool) else None,
        )


def _second_occurrences(entries: Iterable[tuple[int, str]]) -> list[tuple[str, int]]:
    """For each value listed more than once: the value and the index of its second occurrence."""
    first: set[str] = set()
    second: dict[str, int] = {}
    for index, value in entries:
        if value in first:
            second.setdefault(value, index)
        first.add(value)
    return sorted(second.items())


def run_strategy_problem(vm: VM) -> str | None:
    """Why ``vm``'s runStrategy cannot be, or None: a VMI always runs."""
    if vm.kind == VMKind.VIRTUAL_MACHINE_INSTANCE and vm.run_strategy is not None:
        return (
            f"is only meaningful with kind VirtualMachine (this VM's kind is {vm.kind}, which always runs);"
            " set kind: VirtualMachine or remove runStrategy"
        )
    return None


def nad_name_problem(attachment: MacvtapAttachment) -> str | None:
    """Why the shared NAD of ``attachment`` cannot be named, or None (a NAD name is a DNS-1123 subdomain of a label's length)."""
    nad = nad_name(attachment)
    if len(nad) > 63:
        return f"the NetworkAttachmentDefinition name {nad!r} would exceed 63 characters; shorten the network name"
    return None


def duplicate_mac_problems(macs: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """``(path, mac)`` of every NIC in order -> one problem at each MAC that an earlier NIC uses already."""
    problems: list[tuple[str, str]] = []
    first: dict[str, str] = {}
    for path, mac in macs:
        if mac is None:
            continue
        if mac in first:
            problems.append((path, f"{mac} is already used by {first[mac]}; MAC addresses must be unique"))
        first.setdefault(mac, path)
    return problems


def vm_problems(parts: ValidParts) -> list[tuple[str, str]]:
    """The VM rules every role shares: unique names and MACs, run strategies, NAD names within
    63 characters, and a namespace the stack may create."""
    problems: list[tuple[str, str]] = []
    for name, index in _second_occurrences((index, vm.name) for index, vm in parts.vms):
        problems.append((key_path(("vms", index, "name")), f"duplicate VM name {name!r}"))
    for vm_index, vm in parts.vms:
        if problem := run_strategy_problem(vm):
            problems.append((key_path(("vms", vm_index, "runStrategy")), problem))
    for vm_index, attachment_index, attachment in parts.attachments:
        if problem := nad_name_problem(attachment):
            problems.append((key_path(("vms", vm_index, "macvtap", attachment_index, "network")), problem))
    problems += duplicate_mac_problems(
        (key_path(("vms", vm_index, "macvtap", attachment_index, "mac")), attachment.mac)
        for vm_index, attachment_index, attachment in parts.attachments
    )
    if parts.vm_namespace == KUBEVIRT_NAMESPACE and parts.create_vm_namespace:
        problems.append(
            (
                key_path(("vmNamespace",)),
                f"{KUBEVIRT_NAMESPACE!r} is created and owned by KubeVirt's operator manifest; choose another namespace for the VMs,"
                f" or set {NAMESPACE}:createVmNamespace to false",
            )
        )

    return problems


def platform_problems(parts: ValidParts, secret_keys: frozenset[str], project_dir: Path) -> list[tuple[str, str]]:
    """Rules that relate several keys: references, uniqueness and the ssh-mode requirements."""
    problems: list[tuple[str, str]] = []
    for name, index in _second_occurrences((index, device.name) for index, device in parts.lower_devices):
        problems.append(
            (key_path(("macvtap", "lowerDevices", index, "name")), f"duplicate network name {name!r}; each lower device needs its own name")
        )

    image = parts.macvtap.image if parts.macvtap is not None else None
    for index, device in parts.lower_devices:
        longest = max_network_name_length(image, device.capacity) if image is not None else 63
        if len(device.name) > longest:
            problems.append(
                (
                    key_path(("macvtap", "lowerDevices", index, "name")),
                    f"{device.name!r} has {len(device.name)} characters; the device plugin of {image} names its devices"
                    f" {device.name}Mvp0 to {device.name}Mvp{device.capacity - 1}, and an interface name has at most 15,"
                    f" so with capacity {device.capacity} a network name may have at most {longest}: shorten it or lower the capacity",
                )
            )

    networks = list(dict.fromkeys(device.name for _, device in parts.lower_devices))
    # Without any lower device, a reference cannot be judged (macvtap's own error says why).
    if networks or parts.unparsed_networks:
        for vm_index, attachment_index, attachment in parts.attachments:
            if attachment.network not in parts.unparsed_networks and (
                problem := network_problem(attachment.network, networks, f"the names in {NAMESPACE}:macvtap.lowerDevices")
            ):
                problems.append((key_path(("vms", vm_index, "macvtap", attachment_index, "network")), problem))
    mtus = {device.name: (device.mtu, key_path(("macvtap", "lowerDevices", index, "mtu"))) for index, device in parts.lower_devices}
    for vm_index, attachment_index, attachment in parts.attachments:
        network_mtu, where = mtus.get(attachment.network, (None, ""))
        problem = mtu_problem(attachment, network_mtu, where)
        if problem:
            problems.append((key_path(("vms", vm_index, "macvtap", attachment_index, "mtu")), problem))

    for manifest_key, source in (
        (("kubevirt", "operatorManifest"), parts.kubevirt.operator_manifest if parts.kubevirt else None),
        (("multus", "manifest"), parts.multus.manifest if parts.multus else None),
    ):
        if source is not None and not source.startswith(("https://", "http://")) and not (project_dir / source).is_file():
            problems.append(
                (key_path(manifest_key), f"{source!r} is neither a file nor an http(s) URL (relative paths start at the project directory)")
            )

    if parts.macvtap is not None and parts.macvtap.cni_install == "ssh":
        problems.extend(_ssh_mode_problems(parts, parts.macvtap, secret_keys, project_dir))
    return problems


def _ssh_mode_problems(parts: ValidParts, macvtap: MacvtapConfig, secret_keys: frozenset[str], project_dir: Path) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    why = "is required when macvtap.cniInstall is ssh"
    if not parts.nodes_listed:
        problems.append((key_path(("nodes",)), f"{why}: list the nodes as [{{name, host, port, user, hostKey}}]"))
    if parts.ssh_private_key is None:
        problems.append((key_path(("sshPrivateKey",)), f"{why}: pulumi config set --secret {NAMESPACE}:sshPrivateKey < ~/.ssh/id_ed25519"))
    else:
        if f"{NAMESPACE}:sshPrivateKey" not in secret_keys:
            problems.append(
                (
                    key_path(("sshPrivateKey",)),
                    f"must be stored as a secret: pulumi config set --secret {NAMESPACE}:sshPrivateKey < ~/.ssh/id_ed25519",
                )
            )
        if "PRIVATE KEY-----" not in parts.ssh_private_key:
            problems.append((key_path(("sshPrivateKey",)), "is not a PEM or OpenSSH private key ('-----BEGIN ... PRIVATE KEY-----')"))
    binary = macvtap.cni_binary_path
    if binary is None:
        problems.append(
            (
                key_path(("macvtap", "cniBinaryPath")),
                f'{why}: the path of the macvtap CNI binary to copy to the nodes (README, "Stacks", says how to get it)',
            )
        )
    elif not (project_dir / binary).is_file():
        problems.append(
            (key_path(("macvtap", "cniBinaryPath")), f"{binary!r} is not a file (relative paths start at the project directory)")
        )

    for name, index in _second_occurrences((index, node.name) for index, node in parts.nodes):
        problems.append((key_path(("nodes", index, "name")), f"duplicate node name {name!r}"))
    for endpoint, index in _second_occurrences((index, f"{node.host}:{node.port}") for index, node in parts.nodes):
        problems.append((key_path(("nodes", index, "host")), f"{endpoint} is listed twice; each node needs its own address"))
    return problems


def mtu_problem(attachment: MacvtapAttachment, network_mtu: int | None, where: str) -> str | None:
    """Why an attachment's MTU cannot work on a network that carries ``network_mtu`` (set at ``where``)."""
    if attachment.mtu is None or network_mtu is None or attachment.mtu <= network_mtu:
        return None
    return (
        f"{attachment.mtu} is above the MTU of network {attachment.network!r} ({network_mtu}, {where}): a macvtap cannot"
        ' exceed its lower device\'s MTU, and the CNI would fail at pod start ("invalid argument")'
    )


def network_problem(network: str, networks: Iterable[str], source: str) -> str | None:
    """Why ``network`` is not one of ``networks`` (``source`` says where they come from), or None."""
    allowed = list(networks)
    if network in allowed:
        return None
    return f"{network!r} is not a macvtap network; allowed: {', '.join(allowed) or '(none)'} ({source})"


def attachment_network_problems(attachment: MacvtapAttachment, networks: Mapping[str, int | None], source: str) -> list[tuple[str, str]]:
    """``(field, problem)``: the attachment's network must be one of ``networks`` (network -> the MTU it carries, if
    known), and its MTU at most that network's; ``source`` says where the networks come from."""
    if problem := network_problem(attachment.network, networks, source):
        return [("network", problem)]
    if problem := mtu_problem(attachment, networks[attachment.network], source):
        return [("mtu", problem)]
    return []


def check_vm_networks(vms: list[VM], networks: Mapping[str, int | None], source: str) -> list[tuple[str, str]]:
    """Every attachment's network must be one the platform offers (network -> the MTU it carries, if
    known), and no NIC may ask for more than that MTU; ``source`` says where the networks come from.

    A `vms` stack checks against its platform stack's export, once the StackReference has been read.
    """
    return [
        (key_path(("vms", vm_index, "macvtap", attachment_index, field)), problem)
        for vm_index, vm in enumerate(vms)
        for attachment_index, attachment in enumerate(vm.macvtap)
        for field, problem in attachment_network_problems(attachment, networks, source)
    ]
