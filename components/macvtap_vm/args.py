"""``MacvtapVMArgs``: what a MacvtapVM takes, and its check, made of the stack config's own rules.

The fields are those of a VM in ``kvm-in-a-pod:vms`` (README, "Configuration reference"), plus what a
stack says once for all its VMs (``namespace``, ``consolePassword``) and the NADs the VM's NICs go
through (``nads``, a ``MacvtapNetworks``' output). ``check_vm`` validates them with the config's
``VM`` model and rule functions (``components.config``), so a VM is refused for the same reasons,
with the same words, as a stack's VM, at the input's own path (``macvtap[0].mac``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
from pydantic import Field, ValidationError, field_validator

from components.config import (
    VM,
    RunStrategy,
    VMKind,
    console_password_problem,
    dns_label,
    duplicate_mac_problems,
    nad_name,
    nad_name_problem,
    property_path,
    pydantic_problems,
    run_strategy_problem,
    user_data_without_password,
)
from components.interface import PASSWORD_INPUT, MacvtapNic

DEFAULT_NAMESPACE = "default"


class MacvtapVMArgs(TypedDict):
    """The arguments of a MacvtapVM: one KubeVirt VM with one macvtap NIC per entry of `macvtap`."""

    macvtap: pulumi.Input[Sequence[pulumi.Input[MacvtapNic]]]
    """The VM's macvtap NICs, at least one, in order (interfaces macvtap0, macvtap1, ...)."""
    nads: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    """The NADs the NICs go through, by name, with their CNI configs: the `nads` of a MacvtapNetworks given these NICs."""
    name: NotRequired[pulumi.Input[str]]
    """The VM's name (a DNS-1123 label); default: the component's resource name."""
    namespace: NotRequired[pulumi.Input[str]]
    """The namespace of the VM, which must be the NADs' (default `default`)."""
    kind: NotRequired[VMKind]
    """`VirtualMachineInstance` (default) or `VirtualMachine`. A plain value: it decides which Kubernetes object is registered."""
    runStrategy: NotRequired[pulumi.Input[RunStrategy]]
    """When KubeVirt runs a VirtualMachine (default `Always`); only with kind `VirtualMachine`."""
    image: NotRequired[pulumi.Input[str]]
    """The container disk (default `quay.io/containerdisks/fedora:43`, default user `fedora`)."""
    memory: NotRequired[pulumi.Input[str]]
    """The memory request, a Kubernetes quantity such as `1024M` (default) or `2Gi`."""
    cpuCores: NotRequired[pulumi.Input[int]]
    """CPU cores, 1 to 1024 (default 1)."""
    readyTimeoutSeconds: NotRequired[pulumi.Input[int]]
    """How long `pulumi up` waits for the VM's Ready condition, 10 to 86400 seconds (default 900)."""
    sshAuthorizedKeys: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Public keys of the default user, one `ssh-ed25519 AAAA... comment` line each."""
    userData: NotRequired[pulumi.Input[str]]
    """Complete cloud-init user data (`#cloud-config ...` or a `#!` script), replacing the generated one."""
    consolePassword: NotRequired[pulumi.Input[str]]
    """A secret: the default user's `virtctl console` password (8 to 128 printable characters), kept in a Secret; not with `userData`."""


class VmInputs(VM):
    """A VM (the stack config's model and rules) with what a stack gives all its VMs."""

    namespace: str = DEFAULT_NAMESPACE
    nads: dict[str, str] = Field(default_factory=dict)

    _namespace = field_validator("namespace")(dns_label)


@dataclass(frozen=True)
class CheckedVm:
    """A MacvtapVM's arguments, validated: the VM, its namespace and the configs of the NADs it uses."""

    vm: VM
    namespace: str
    nad_configs: dict[str, str]


def check_vm(values: Mapping[str, Any], default_name: str, *, has_password: bool) -> tuple[CheckedVm | None, list[tuple[str, str]]]:
    """The VM described by the plain ``values`` of a ``MacvtapVMArgs`` (without ``consolePassword``), or its problems by path."""
    try:
        inputs = VmInputs.model_validate({"name": default_name, **values})
    except ValidationError as error:
        return None, pydantic_problems(error, path=property_path)
    problems: list[tuple[str, str]] = []
    if problem := run_strategy_problem(inputs):
        problems.append(("runStrategy", problem))
    for index, attachment in enumerate(inputs.macvtap):
        if problem := nad_name_problem(attachment):
            problems.append((property_path(("macvtap", index, "network")), problem))
        elif (nad := nad_name(attachment)) not in inputs.nads:
            problems.append((property_path(("macvtap", index, "network")), _missing_nad(nad, inputs.nads)))
    problems += duplicate_mac_problems((property_path(("macvtap", index, "mac")), a.mac) for index, a in enumerate(inputs.macvtap))
    if has_password and inputs.user_data is not None:
        problems.append(("userData", user_data_without_password(PASSWORD_INPUT)))
    if problems:
        return None, problems
    used = sorted({nad_name(attachment) for attachment in inputs.macvtap})
    return CheckedVm(inputs, inputs.namespace, {nad: inputs.nads[nad] for nad in used}), []


def _missing_nad(nad: str, nads: Mapping[str, str]) -> str:
    return (
        f"goes through the NAD {nad!r}, which nads does not hold (it holds: {', '.join(sorted(nads)) or 'none'}):"
        " give this NIC to the MacvtapNetworks whose nads these are"
    )


def password_problems(password: str) -> list[tuple[str, str]]:
    """The console password's problems; the messages never repeat it."""
    problem = console_password_problem(password)
    return [(PASSWORD_INPUT, problem)] if problem else []
