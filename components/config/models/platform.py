"""The platform's models: KubeVirt, Multus, the macvtap networks and device plugin, and the nodes."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from components.config.models.base import StrictModel, dns_label, version_tuple
from components.config.models.constants import (
    DEFAULT_CNI_BIN_DIR,
    DEFAULT_KUBEVIRT_VERSION,
    DEFAULT_MACVTAP_IMAGE,
    DEFAULT_MULTUS_VERSION,
    DEFAULT_STAGING_DIR,
    DEVICE_NAME_SUFFIX,
    HOSTNAME,
    INTERFACE_NAME_MAX,
    LAST_RELEASE_NAMING_DEVICES_BY_NETWORK,
    MIN_KUBEVIRT_VERSION,
    SSH_PUBLIC_KEY,
    UNIX_USER,
    VERSION,
)
from components.node_commands import INTERFACE_NAME, is_safe_absolute_path


class KubeVirtConfig(StrictModel):
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


class MultusConfig(StrictModel):
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


class LowerDevice(StrictModel):
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


class Toleration(StrictModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, alias="tolerationSeconds", ge=0)


class MacvtapConfig(StrictModel):
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


class Node(StrictModel):
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
