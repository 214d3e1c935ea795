"""The typed stack configuration: constants, the pydantic models and the key-path notation.

Parsing and the rules that relate several keys are in ``components.config`` and
``components.config.checks``; these models are the shapes each key must have on its own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from components.node_commands import DNS1123_LABEL, INTERFACE_NAME, is_safe_absolute_path

NAMESPACE = "kvm-in-a-pod"

DEFAULT_KUBEVIRT_VERSION = "v1.9.0"
# The macvtap network binding plugin's `tap` attachment type exists since v1.1.1 (domain.md).
MIN_KUBEVIRT_VERSION = (1, 1, 1)
DEFAULT_MULTUS_VERSION = "v4.3.0"
# The newest release of kubevirt/macvtap-cni: its public repository's tags end at v0.13.1, and
# version/version.go at its HEAD still says 0.13.1 (April 2026). It lacks two fixes on main: the
# device probes' glob (PR #154; the DaemonSet here sets its own probes) and hashed interface
# names (PR #150; hence the network-name limit below).
DEFAULT_MACVTAP_IMAGE = "quay.io/kubevirt/macvtap-cni:v0.13.1"
# The device plugin names each device, and the macvtap it creates for it, <network>Mvp<index>
# (macvtap-cni v0.13.1 pkg/deviceplugin/plugin.go generateMacvtapDevices), and a Linux interface
# name has at most 15 characters: Allocate of a longer one fails ("numerical result out of range").
# Later commits (PR #150) hash the name, but no release has them: a tag after this one is assumed
# to; a digest or any other tag is taken to name devices as this release does.
LAST_RELEASE_NAMING_DEVICES_BY_NETWORK = (0, 13, 1)
DEVICE_NAME_SUFFIX = "Mvp"
INTERFACE_NAME_MAX = 15
DEFAULT_READY_TIMEOUT_SECONDS = 900
# A pinned Fedora release, as floating Multus tags are refused: kubevirt/containerdisks publishes one
# tag per Fedora release (artifacts/fedora, tags "<release>" and "<release>-<compose>"); fedora:43 is the
# one RedHatQE/openshift-virtualization-tests moved to (issue #3781, 2026-02) and public KubeVirt examples use.
DEFAULT_VM_IMAGE = "quay.io/containerdisks/fedora:43"
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
KNOWN_KEYS = (*PLATFORM_KEYS, "vmNamespace", "createVmNamespace", "vms", "consolePassword", "role", "platformStack")
# A stack reference is `stack`, `org/stack` or `org/project/stack`; each part is what the CLI allows in a
# stack name ("alphanumeric characters, hyphens, underscores, or periods", Pulumi docs, Concepts > Stacks).
STACK_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
# The keys kept secret end to end (state, logs, outputs, the plan's files): the SSH key goes only into
# the command provider's connection, the console password only into a Kubernetes Secret's stringData.
SECRET_KEYS = ("sshPrivateKey", "consolePassword")
# Resources, state and the plan would hold any other key's value in plain text: refuse it
# rather than pretend it stays secret.
ENCRYPTED_PLAIN_KEY = (
    "is stored encrypted, but only sshPrivateKey and consolePassword are kept secret by this program; this value would be written"
    " in plain text into resources and state. Store it as plain text: pulumi config rm {key}, then pulumi config set {key} ..."
    " (without --secret)"
)
# cloud-init's `password` (cc_set_passwords): long enough not to be guessed at a console prompt, short
# and printable enough to be typed there.
CONSOLE_PASSWORD_LENGTH = (8, 128)
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


def console_password_problem(password: str) -> str | None:
    """Why ``password`` cannot be typed at the VM's console, or None; the message never repeats it."""
    low, high = CONSOLE_PASSWORD_LENGTH
    if not low <= len(password) <= high:
        return f"must be {low} to {high} characters long (it has {len(password)})"
    if not password.isprintable():
        return "must be printable characters you can type at a console (no newline, tab or control character)"
    return None


def _console_password(value: SecretStr | None) -> SecretStr | None:
    if value is not None and (problem := console_password_problem(value.get_secret_value())):
        raise ValueError(problem)
    return value


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


def dns_label(value: str) -> str:
    """``value`` if it is a DNS-1123 label, else ValueError saying what one is (a pydantic validator)."""
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
    # The MTU the network carries. A macvtap takes at most its lower device's MTU: a NIC asking for
    # more fails at pod start ("invalid argument"). So no NIC on the network may ask for more, and
    # ssh mode checks every node's lower device has at least this much before it installs.
    mtu: int | None = Field(None, ge=68, le=65535)

    _name = field_validator("name")(dns_label)

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

    _namespace = field_validator("namespace")(dns_label)

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

    _name = field_validator("name")(dns_label)

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
        if value is None:
            return None
        key = value.strip()
        # `ssh-keyscan -t ed25519 <host>` (what the README says to run) prints "<host> <type> <key>",
        # with "[host]:port" for another port: the host column is dropped, the key kept.
        host, _, rest = key.partition(" ")
        if not SSH_PUBLIC_KEY.match(key) and host and SSH_PUBLIC_KEY.match(rest.strip()):
            key = rest.strip()
        if not SSH_PUBLIC_KEY.match(key):
            raise ValueError("must be the node's SSH host public key, e.g. 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 <host>)")
        return key

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


# Enums, not Literals: the component package's schema is inferred from these types, and Pulumi's
# analyzer turns an Enum (never a Literal) into a schema enum (pulumi/provider/experimental/
# analyzer.py, is_enum). StrEnum members are their values: "VirtualMachine" == VMKind.VIRTUAL_MACHINE.
class VMKind(StrEnum):
    """Which KubeVirt object a VM is (kubevirt.io/v1)."""

    VIRTUAL_MACHINE_INSTANCE = "VirtualMachineInstance"
    """The bare instance: any spec change replaces it, and it is gone after a drain or a node reboot."""
    VIRTUAL_MACHINE = "VirtualMachine"
    """The persistent object: it survives node reboots, works with virtctl start/stop/restart, and takes changes at its next restart."""


class RunStrategy(StrEnum):
    """When KubeVirt runs a VirtualMachine (KubeVirt user guide, "Run Strategies")."""

    # `Once` is left out on purpose: a VM that runs once and stays stopped is not something a
    # declarative stack can converge on.
    ALWAYS = "Always"
    """Always running: KubeVirt starts it again whenever it stops."""
    RERUN_ON_FAILURE = "RerunOnFailure"
    """Started again only when it fails; a clean shutdown leaves it stopped."""
    MANUAL = "Manual"
    """Started and stopped by hand (virtctl start/stop); KubeVirt never restarts it by itself."""
    HALTED = "Halted"
    """Stopped; virtctl start runs it."""


DEFAULT_RUN_STRATEGY = RunStrategy.ALWAYS


class VM(_Model):
    name: str
    # A VMI is the bare, immutable instance; a VirtualMachine is the persistent object that
    # survives node reboots and works with `virtctl start/stop/restart`.
    kind: VMKind = VMKind.VIRTUAL_MACHINE_INSTANCE
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

    _name = field_validator("name")(dns_label)

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
    # The default user's password on the VMs' console (a secret; README, "Quick start").
    console_password: SecretStr | None = Field(None, alias="consolePassword")

    _vm_namespace = field_validator("vm_namespace")(dns_label)
    _console_password = field_validator("console_password")(_console_password)

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
    console_password: SecretStr | None = Field(None, alias="consolePassword")

    _vm_namespace = field_validator("vm_namespace")(dns_label)
    _console_password = field_validator("console_password")(_console_password)

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


def names_devices_by_network(image: str) -> bool:
    """Does the device plugin of ``image`` name its devices ``<network>Mvp<index>``?"""
    tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else ""
    match = VERSION.match(tag)
    return match is None or version_tuple(tag) <= LAST_RELEASE_NAMING_DEVICES_BY_NETWORK


def max_network_name_length(image: str, capacity: int) -> int:
    """The longest network name the device plugin of ``image`` can serve with ``capacity`` devices.

    With names ``<network>Mvp<capacity - 1>`` it is what 15 characters leave; else a DNS-1123 label's 63.
    """
    if not names_devices_by_network(image):
        return 63
    return INTERFACE_NAME_MAX - len(DEVICE_NAME_SUFFIX) - len(str(capacity - 1))


def property_path(location: tuple[int | str, ...]) -> str:
    """``('macvtap', 0, 'mac')`` -> ``macvtap[0].mac``: Pulumi's property-path notation (resource.ParsePropertyPath),
    in which a component's refusals name its inputs."""
    path = ""
    for index, part in enumerate(location):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if index else "") + part
    return path


def key_path(location: tuple[int | str, ...]) -> str:
    """``('vms', 1, 'macvtap', 0, 'network')`` -> ``kvm-in-a-pod:vms[1].macvtap[0].network``."""
    return f"{NAMESPACE}:{property_path(location)}"


def nad_settings(attachment: MacvtapAttachment) -> dict[str, Any]:
    """The attachment settings that go into its NAD's CNI config (only the ones given)."""
    settings: dict[str, Any] = {}
    if attachment.mtu is not None:
        settings["mtu"] = attachment.mtu
    # promiscMode false is the CNI's default (macvtap-cni NetConf `promiscMode,omitempty`): the
    # same NAD as no setting, so the same name.
    if attachment.promisc_mode:
        settings["promiscMode"] = True
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
