"""The typed stack configuration, parsed and validated once, before any resource exists.

Every problem is reported with its full key path (``kvm-in-a-pod:vms[1].macvtap[0].network``)
and what would be valid, all problems at once, as one ``pulumi.RunError`` (no stack trace).
``parse_stack_config`` is pure so the rules are testable without Pulumi;
``load_stack_config`` is the edge that reads ``pulumi.Config``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from components.node_commands import DNS1123_LABEL, INTERFACE_NAME, is_safe_absolute_path

NAMESPACE = "kvm-in-a-pod"

DEFAULT_KUBEVIRT_VERSION = "v1.9.0"
# The macvtap network binding plugin's `tap` attachment type exists since v1.1.1 (domain.md).
MIN_KUBEVIRT_VERSION = (1, 1, 1)
DEFAULT_MULTUS_VERSION = "v4.3.0"
DEFAULT_MACVTAP_IMAGE = "quay.io/kubevirt/macvtap-cni:v0.13.2"
DEFAULT_READY_TIMEOUT_SECONDS = 900
DEFAULT_VM_IMAGE = "quay.io/containerdisks/fedora:latest"
DEFAULT_CNI_BIN_DIR = "/opt/cni/bin"
DEFAULT_STAGING_DIR = "/var/tmp/kvm-in-a-pod"

VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
MAC_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
UNIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
MEMORY_QUANTITY = re.compile(r"^[1-9][0-9]*(Ki|Mi|Gi|Ti|k|M|G|T)?$")
SSH_PUBLIC_KEY = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$"
)
IMAGE_REFERENCE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")

# What a stack holds (README, "Platform and VM stacks"): `all` is one stack with everything; a `platform`
# stack holds KubeVirt, Multus, the device plugin and the node installs; a `vms` stack holds only VMs and
# reads its platform from the stack named in `platformStack`.
ROLES = ("all", "platform", "vms")
PLATFORM_KEYS = ("kubevirt", "multus", "macvtap", "nodes", "sshPrivateKey")
KNOWN_KEYS = (*PLATFORM_KEYS, "vmNamespace", "createVmNamespace", "vms", "role", "platformStack")
# A stack reference is `stack`, `org/stack` or `org/project/stack`; each part is what the CLI allows in a
# stack name ("alphanumeric characters, hyphens, underscores, or periods", Pulumi docs, Concepts > Stacks).
STACK_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
SECRET_KEYS = ("sshPrivateKey",)
# Resources, state and the plan would hold any other key's value in plain text: refuse it
# rather than pretend it stays secret.
_ENCRYPTED_PLAIN_KEY = (
    "is stored encrypted, but only sshPrivateKey is kept secret by this program; this value would be written in plain text"
    " into resources and state. Store it as plain text: pulumi config rm {key}, then pulumi config set {key} ... (without --secret)"
)
# Namespaces every cluster has: a stack never creates (nor, on destroy, deletes) them.
CLUSTER_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# KubeVirt's operator manifest creates and owns this one (domain.md).
KUBEVIRT_NAMESPACE = "kubevirt"


class ConfigError(Exception):
    """One or more invalid stack config values; each entry is ``(key path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"{path}: {message}" for path, message in problems]
        super().__init__("invalid stack configuration:\n  " + "\n  ".join(lines))


def version_tuple(version: str) -> tuple[int, int, int]:
    match = VERSION.match(version)
    if not match:
        raise ValueError(f"{version!r} is not a release version like v1.9.0")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


class _Model(BaseModel):
    # Unknown keys are refused: a typo such as `lowerDevice` for `lowerDevices` must not be
    # silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=False, frozen=True)


def _dns_label(value: str) -> str:
    if not DNS1123_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)"
        )
    return value


class KubeVirtConfig(_Model):
    version: str = DEFAULT_KUBEVIRT_VERSION
    use_emulation: bool = Field(False, alias="useEmulation")
    operator_manifest: str | None = Field(None, alias="operatorManifest")

    @field_validator("version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if version_tuple(value) < MIN_KUBEVIRT_VERSION:
            raise ValueError(
                f"{value} is not supported; the macvtap binding plugin needs KubeVirt v1.1.1 or newer (default {DEFAULT_KUBEVIRT_VERSION})"
            )
        return value

    @property
    def operator_manifest_source(self) -> str:
        return self.operator_manifest or (f"https://github.com/kubevirt/kubevirt/releases/download/{self.version}/kubevirt-operator.yaml")

    @property
    def needs_binding_plugin_feature_gate(self) -> bool:
        # NetworkBindingPlugins went GA in v1.5.0; before that the gate must be listed.
        return version_tuple(self.version) < (1, 5, 0)


class MultusConfig(_Model):
    install: bool = True
    version: str = DEFAULT_MULTUS_VERSION
    image: str | None = None
    manifest: str | None = None

    @field_validator("version")
    @classmethod
    def _release_version(cls, value: str) -> str:
        version_tuple(value)
        return value

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, value: str | None) -> str | None:
        if value is not None and (
            (":" not in value.rsplit("/", 1)[-1] and "@" not in value) or value.endswith(":snapshot-thick") or value.endswith(":latest")
        ):
            raise ValueError(
                f"{value!r} is a floating image; pin a release tag such as ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick or a digest"
            )
        return value

    @property
    def pinned_image(self) -> str:
        # The thick manifest references the floating `snapshot-thick` tag even at a release
        # tag (domain.md): pin the release's own `-thick` image instead.
        return self.image or f"ghcr.io/k8snetworkplumbingwg/multus-cni:{self.version}-thick"

    @property
    def manifest_source(self) -> str:
        return self.manifest or (
            f"https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/{self.version}/deployments/multus-daemonset-thick.yml"
        )


class LowerDevice(_Model):
    name: str
    lower_device: str = Field(alias="lowerDevice")
    # macvtap-cni supports bridge (default), vepa and private; passthru is NOT supported.
    mode: Literal["bridge", "vepa", "private"] = "bridge"
    capacity: int = Field(100, ge=1, le=10000)

    _name = field_validator("name")(_dns_label)

    @field_validator("lower_device")
    @classmethod
    def _interface_name(cls, value: str) -> str:
        if not INTERFACE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a Linux interface name (1-15 of A-Z a-z 0-9 _ . -)")
        return value


class Toleration(_Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, alias="tolerationSeconds", ge=0)


class MacvtapConfig(_Model):
    namespace: str = "kvm-in-a-pod"
    image: str = DEFAULT_MACVTAP_IMAGE
    cni_install: Literal["ssh", "daemonset"] = Field("daemonset", alias="cniInstall")
    cni_binary_path: str | None = Field(None, alias="cniBinaryPath")
    cni_bin_dir: str = Field(DEFAULT_CNI_BIN_DIR, alias="cniBinDir")
    staging_dir: str = Field(DEFAULT_STAGING_DIR, alias="stagingDir")
    lower_devices: list[LowerDevice] = Field(alias="lowerDevices", min_length=1)
    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    tolerations: list[Toleration] = Field(default_factory=list)

    _namespace = field_validator("namespace")(_dns_label)

    @field_validator("cni_bin_dir", "staging_dir")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        if not is_safe_absolute_path(value):
            raise ValueError(f"{value!r} must be an absolute path of A-Z a-z 0-9 _ . - / without '..'")
        return value

    @property
    def network_names(self) -> list[str]:
        return [device.name for device in self.lower_devices]


class Node(_Model):
    name: str
    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str
    host_key: str | None = Field(None, alias="hostKey")

    _name = field_validator("name")(_dns_label)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
        if not HOSTNAME.match(value):
            raise ValueError(f"{value!r} is neither an IP address nor a DNS hostname")
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not UNIX_USER.match(value):
            raise ValueError(f"{value!r} is not a Unix user name ([a-z_][a-z0-9_-], at most 32)")
        return value

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is not None and not SSH_PUBLIC_KEY.match(value.strip()):
            raise ValueError("must be the node's SSH host public key, e.g. 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 <host>)")
        return value.strip() if value is not None else None

    @property
    def use_sudo(self) -> bool:
        return self.user != "root"


class MacvtapAttachment(_Model):
    network: str
    mac: str | None = None
    mtu: int | None = Field(None, ge=68, le=65535)
    promisc_mode: bool | None = Field(None, alias="promiscMode")

    @field_validator("mac")
    @classmethod
    def _unicast_mac(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not MAC_ADDRESS.match(value):
            raise ValueError(f"{value!r} is not a MAC address like 02:00:00:00:00:01")
        if int(value[:2], 16) & 1:
            raise ValueError(f"{value!r} is a multicast address; a NIC needs a unicast MAC (even first octet)")
        if value.replace(":", "") == "000000000000":
            raise ValueError("00:00:00:00:00:00 is not a usable MAC address")
        return value.lower()


VMKind = Literal["VirtualMachineInstance", "VirtualMachine"]
# KubeVirt's run strategies (user guide, "Run Strategies"); `Once` is left out on purpose: a VM
# that runs once and stays stopped is not something a declarative stack can converge on.
RunStrategy = Literal["Always", "RerunOnFailure", "Manual", "Halted"]
DEFAULT_RUN_STRATEGY: RunStrategy = "Always"


class VM(_Model):
    name: str
    # A VMI is the bare, immutable instance; a VirtualMachine is the persistent object that
    # survives node reboots and works with `virtctl start/stop/restart`.
    kind: VMKind = "VirtualMachineInstance"
    run_strategy: RunStrategy | None = Field(None, alias="runStrategy")
    image: str = DEFAULT_VM_IMAGE
    memory: str = "1024M"
    cpu_cores: int = Field(1, alias="cpuCores", ge=1, le=1024)
    # How long `pulumi up` waits for the VM's Ready condition (pulling a large container disk on
    # a slow link can take long); at the end `up` fails naming the VM.
    ready_timeout_seconds: int = Field(DEFAULT_READY_TIMEOUT_SECONDS, alias="readyTimeoutSeconds", ge=10, le=86400)
    ssh_authorized_keys: list[str] = Field(default_factory=list, alias="sshAuthorizedKeys")
    user_data: str | None = Field(None, alias="userData")
    macvtap: list[MacvtapAttachment] = Field(min_length=1)

    _name = field_validator("name")(_dns_label)

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not MEMORY_QUANTITY.match(value):
            raise ValueError(f"{value!r} is not a memory quantity such as 1024M or 2Gi")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not IMAGE_REFERENCE.match(value):
            raise ValueError(f"{value!r} is not a container image reference")
        return value

    @field_validator("ssh_authorized_keys")
    @classmethod
    def _public_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not SSH_PUBLIC_KEY.match(key.strip()):
                raise ValueError(f"{key[:30]!r}... is not an SSH public key line ('ssh-ed25519 AAAA... comment')")
        return [key.strip() for key in value]

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("#cloud-config", "#!")):
            raise ValueError("must be cloud-init user data starting with '#cloud-config' (or a '#!' script)")
        return value

    @property
    def effective_run_strategy(self) -> RunStrategy:
        """The VirtualMachine's run strategy (meaningless for a VMI, which always runs)."""
        return self.run_strategy or DEFAULT_RUN_STRATEGY


class StackConfig(_Model):
    """An `all` or `platform` stack: the platform, and (role all) the VMs on it."""

    role: Literal["all", "platform"] = "all"
    kubevirt: KubeVirtConfig = Field(default_factory=KubeVirtConfig)
    multus: MultusConfig = Field(default_factory=MultusConfig)
    macvtap: MacvtapConfig
    nodes: list[Node] = Field(default_factory=list)
    ssh_private_key: SecretStr | None = Field(None, alias="sshPrivateKey")
    vm_namespace: str = Field("default", alias="vmNamespace")
    # False: the namespace exists already, and the stack neither creates nor deletes it.
    create_vm_namespace: bool = Field(True, alias="createVmNamespace")
    vms: list[VM] = Field(default_factory=list)

    _vm_namespace = field_validator("vm_namespace")(_dns_label)

    @property
    def ssh_mode(self) -> bool:
        return self.macvtap.cni_install == "ssh"

    @property
    def creates_vm_namespace(self) -> bool:
        """Does this stack create vmNamespace (and delete it on destroy)?

        Not when the user says it exists, nor for a namespace every cluster has, nor for the
        device plugin's namespace, which the stack creates already.
        """
        return self.create_vm_namespace and self.vm_namespace not in (*CLUSTER_NAMESPACES, self.macvtap.namespace)


class VmStackConfig(_Model):
    """A `vms` stack: only VMs, on the platform of the stack named in ``platform_stack``.

    Its networks are checked against that platform's ``macvtapPlatform`` export when it is read
    (``check_vm_networks``), because only then are they known.
    """

    role: Literal["vms"]
    platform_stack: str = Field(alias="platformStack")
    vm_namespace: str = Field("default", alias="vmNamespace")
    # False: the namespace exists already, and the stack neither creates nor deletes it.
    create_vm_namespace: bool = Field(True, alias="createVmNamespace")
    vms: list[VM]

    _vm_namespace = field_validator("vm_namespace")(_dns_label)

    @property
    def creates_vm_namespace(self) -> bool:
        """Does this stack create vmNamespace (and delete it on destroy)? Not when the user says
        it exists, nor for a namespace every cluster has."""
        return self.create_vm_namespace and self.vm_namespace not in CLUSTER_NAMESPACES

    @field_validator("platform_stack")
    @classmethod
    def _stack_reference(cls, value: str) -> str:
        if not STACK_REFERENCE.match(value):
            raise ValueError(
                f"{value!r} is not a stack name; use <stack>, <org>/<stack> or <org>/<project>/<stack> (letters, digits, '-', '_' and '.')"
            )
        return value


def key_path(location: tuple[int | str, ...]) -> str:
    """``('vms', 1, 'macvtap', 0, 'network')`` -> ``kvm-in-a-pod:vms[1].macvtap[0].network``."""
    path = NAMESPACE + ":"
    for index, part in enumerate(location):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if index else "") + part
    return path


_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


# What a missing required key needs, beyond pydantic's "Field required".
_REQUIRED_HINTS: dict[tuple[int | str, ...], str] = {("macvtap",): "is required: at least macvtap.lowerDevices must name a network"}


def _pydantic_problems(error: ValidationError, present: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors():
        location = tuple(item["loc"])
        if item["type"] == "missing" and len(location) == 1 and location[0] in present:
            continue  # present but refused before validation (an encrypted value): reported already
        message = item["msg"]
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        if item["type"] == "extra_forbidden":
            message = "is not a known key (check the spelling against the README's config reference)"
        elif item["type"] == "literal_error":
            message = f"{item['input']!r} is not allowed; {message[0].lower()}{message[1:]}"
        elif item["type"] == "missing":
            message = _REQUIRED_HINTS.get(location, message)
        problems.append((key_path(location), message))
    return problems


def parse_stack_config(
    values: Mapping[str, Any],
    *,
    secret_keys: frozenset[str] = frozenset(),
    project_dir: Path = Path("."),
) -> StackConfig | VmStackConfig:
    """Validate the namespace's config values (``key -> parsed JSON value``).

    ``secret_keys`` names the keys the stack stores encrypted; the SSH key must be one, and no
    other key may be. Raises ``ConfigError`` listing every problem of one run: the field errors,
    the role's rules and the cross-checks (references, uniqueness, ssh mode), which run on every
    part that validated on its own.
    """
    problems: list[tuple[str, str]] = []
    role = values.get("role", "all")
    if role not in ROLES:
        # Which keys are allowed depends on the role: nothing else can be checked without one.
        problems.append((key_path(("role",)), f"{role!r} is not allowed; allowed: {', '.join(ROLES)} (default all)"))
        role = "all"
    role_problems = _role_problems(role, values)
    misplaced = {path for path, _ in role_problems}
    problems.extend(role_problems)
    checked: dict[str, Any] = {}
    for key in sorted(values):
        if key not in KNOWN_KEYS:
            problems.append((key_path((key,)), f"is not a known key; known keys: {', '.join(KNOWN_KEYS)}"))
        elif key not in SECRET_KEYS and f"{NAMESPACE}:{key}" in secret_keys:
            problems.append((key_path((key,)), _ENCRYPTED_PLAIN_KEY.format(key=f"{NAMESPACE}:{key}")))
        elif key_path((key,)) not in misplaced and not (key == "role" and values[key] not in ROLES):
            checked[key] = values[key]
    model: type[StackConfig] | type[VmStackConfig] = VmStackConfig if role == "vms" else StackConfig
    config: StackConfig | VmStackConfig | None = None
    try:
        config = model.model_validate(checked)
    except ValidationError as error:
        # A key the role's rules reported already (a missing platformStack) is not reported twice.
        problems += [problem for problem in _pydantic_problems(error, values) if problem[0] not in misplaced]
    parts = _ValidParts.of(checked)
    problems += _vm_cross_check(parts)
    if role != "vms":
        problems += _cross_check(parts, secret_keys, project_dir)
    if problems:
        raise ConfigError(problems)
    assert config is not None  # every field validated, or pydantic's error is among the problems
    return config


def _role_problems(role: str, values: Mapping[str, Any]) -> list[tuple[str, str]]:
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
    return problems


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
class _ValidParts:
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
    vms: list[tuple[int, VM]]
    # (VM index, attachment index, attachment), also for a VM that failed on another field.
    attachments: list[tuple[int, int, MacvtapAttachment]]
    ssh_private_key: str | None
    vm_namespace: str | None
    create_vm_namespace: bool | None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> _ValidParts:
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


def _vm_cross_check(parts: _ValidParts) -> list[tuple[str, str]]:
    """The VM rules every role shares: unique names and MACs, run strategies, NAD names within
    63 characters, and a namespace the stack may create."""
    problems: list[tuple[str, str]] = []
    for name, index in _second_occurrences((index, vm.name) for index, vm in parts.vms):
        problems.append((key_path(("vms", index, "name")), f"duplicate VM name {name!r}"))
    for vm_index, vm in parts.vms:
        if vm.kind == "VirtualMachineInstance" and vm.run_strategy is not None:
            problems.append(
                (
                    key_path(("vms", vm_index, "runStrategy")),
                    f"is only meaningful with kind VirtualMachine (this VM's kind is {vm.kind}, which always runs);"
                    " set kind: VirtualMachine or remove runStrategy",
                )
            )
    macs: dict[str, str] = {}
    for vm_index, attachment_index, attachment in parts.attachments:
        path = ("vms", vm_index, "macvtap", attachment_index)
        nad = nad_name(attachment)
        if len(nad) > 63:
            problems.append(
                (
                    key_path((*path, "network")),
                    f"the NetworkAttachmentDefinition name {nad!r} would exceed 63 characters; shorten the network name",
                )
            )
        if attachment.mac is not None:
            if attachment.mac in macs:
                problems.append(
                    (key_path((*path, "mac")), f"{attachment.mac} is already used by {macs[attachment.mac]}; MAC addresses must be unique")
                )
            macs[attachment.mac] = key_path((*path, "mac"))
    if parts.vm_namespace == KUBEVIRT_NAMESPACE and parts.create_vm_namespace:
        problems.append(
            (
                key_path(("vmNamespace",)),
                f"{KUBEVIRT_NAMESPACE!r} is created and owned by KubeVirt's operator manifest; choose another namespace for the VMs,"
                f" or set {NAMESPACE}:createVmNamespace to false",
            )
        )

    return problems


def _cross_check(parts: _ValidParts, secret_keys: frozenset[str], project_dir: Path) -> list[tuple[str, str]]:
    """Rules that relate several keys: references, uniqueness and the ssh-mode requirements."""
    problems: list[tuple[str, str]] = []
    for name, index in _second_occurrences((index, device.name) for index, device in parts.lower_devices):
        problems.append(
            (key_path(("macvtap", "lowerDevices", index, "name")), f"duplicate network name {name!r}; each lower device needs its own name")
        )

    networks = list(dict.fromkeys(device.name for _, device in parts.lower_devices))
    # Without any lower device, a reference cannot be judged (macvtap's own error says why).
    if networks or parts.unparsed_networks:
        for vm_index, attachment_index, attachment in parts.attachments:
            if attachment.network not in networks and attachment.network not in parts.unparsed_networks:
                problems.append(
                    (
                        key_path(("vms", vm_index, "macvtap", attachment_index, "network")),
                        f"{attachment.network!r} is not a macvtap network; allowed: {', '.join(networks)}"
                        f" (the names in {NAMESPACE}:macvtap.lowerDevices)",
                    )
                )

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


def _ssh_mode_problems(parts: _ValidParts, macvtap: MacvtapConfig, secret_keys: frozenset[str], project_dir: Path) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    why = "is required when macvtap.cniInstall is ssh"
    if not parts.nodes:
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


def check_vm_networks(vms: list[VM], networks: Sequence[str], source: str) -> list[tuple[str, str]]:
    """Every attachment's network must be one the platform offers; ``source`` says where those come from.

    An `all` stack checks against its own lower devices at config time; a `vms` stack against its
    platform stack's export, once the StackReference has been read.
    """
    problems: list[tuple[str, str]] = []
    for vm_index, vm in enumerate(vms):
        for attachment_index, attachment in enumerate(vm.macvtap):
            if attachment.network not in networks:
                problems.append(
                    (
                        key_path(("vms", vm_index, "macvtap", attachment_index, "network")),
                        f"{attachment.network!r} is not a macvtap network; allowed: {', '.join(networks) or '(none)'} ({source})",
                    )
                )
    return problems


def nad_settings(attachment: MacvtapAttachment) -> dict[str, Any]:
    """The attachment settings that go into its NAD's CNI config (only the ones given)."""
    settings: dict[str, Any] = {}
    if attachment.mtu is not None:
        settings["mtu"] = attachment.mtu
    if attachment.promisc_mode is not None:
        settings["promiscMode"] = attachment.promisc_mode
    return settings


def nad_name(attachment: MacvtapAttachment) -> str:
    """The shared NAD of every attachment with this network and these settings.

    The network's own name when no setting is given (``dataplane``), as upstream's examples
    name one NAD per L2 network; else ``<network>-<6 hex of sha256 of the canonical
    settings>`` (``storage-3f9a1c``), so attachments that differ get NADs that differ.
    """
    settings = nad_settings(attachment)
    if not settings:
        return attachment.network
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return f"{attachment.network}-{hashlib.sha256(canonical.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class RawConfig:
    values: dict[str, Any]
    secret_keys: frozenset[str]


def read_raw_config() -> RawConfig:
    """The namespace's keys as the engine passed them (structured values are JSON)."""
    import pulumi.runtime.config as runtime_config

    # The language host passes config either through the runtime's settings or through the
    # PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS environment; read both, settings winning.
    all_config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    all_secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    prefix = NAMESPACE + ":"
    for full_key, raw in sorted(all_config.items()):
        if not full_key.startswith(prefix):
            continue
        if full_key in all_secret_keys:
            secret_keys.add(full_key)
        key = full_key[len(prefix) :]
        if key == "sshPrivateKey":
            values[key] = raw
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return RawConfig(values, frozenset(secret_keys))


def load_stack_config(project_dir: Path = Path(".")) -> StackConfig | VmStackConfig:
    """The edge: read and validate the stack config or stop the program with a RunError."""
    import pulumi

    raw = read_raw_config()
    try:
        return parse_stack_config(raw.values, secret_keys=raw.secret_keys, project_dir=project_dir)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
