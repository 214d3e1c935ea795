"""The two shapes of a whole stack: an `all` or `platform` stack, and a `vms` stack."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from components.config.models.base import StrictModel, console_password_rule, dns_label
from components.config.models.constants import CLUSTER_NAMESPACES, STACK_REFERENCE
from components.config.models.platform import KubeVirtConfig, MacvtapConfig, MultusConfig, Node
from components.config.models.vms import VM


class StackConfig(StrictModel):
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
    _console_password = field_validator("console_password")(console_password_rule)

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


class VmStackConfig(StrictModel):
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
    _console_password = field_validator("console_password")(console_password_rule)

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
