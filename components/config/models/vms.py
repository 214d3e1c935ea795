"""A VM's models: the VM, its kind and run strategy, its macvtap NICs, and the NAD each NIC shares."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from components.config.models.base import StrictModel, dns_label
from components.config.models.constants import (
    DEFAULT_READY_TIMEOUT_SECONDS,
    DEFAULT_VM_IMAGE,
    IMAGE_REFERENCE,
    MAC_ADDRESS,
    MEMORY_QUANTITY,
    SSH_PUBLIC_KEY,
)


class MacvtapAttachment(StrictModel):
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


class VM(StrictModel):
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
