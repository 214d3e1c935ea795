"""MacvtapNetworks: the NetworkAttachmentDefinitions a set of VMs needs, each registered once.

Upstream's macvtap examples use one NAD per L2 network, shared by every VM on it. Here one NAD
serves every attachment with the same network and settings (MTU, promiscMode): it is named
after the network, plus a short digest of the settings where any are given
(``components.config.nad_name``). Its ``k8s.v1.cni.cncf.io/resourceName`` annotation makes
KubeVirt request one macvtap device from the device plugin per VM NIC that uses it: the resource
name is the platform's, from the ``networks`` of its ``macvtapPlatform`` export.

The NICs are a plain list, since they decide which NADs exist; ``networks`` may be an Output (a
StackReference's). The NICs are checked with the stack config's models and rules, ``networks``
with the export's, and a NIC's network must be one of them with its MTU at most the network's,
all at the inputs' own paths; a refused set registers no NAD (see ``components/interface.py``
and ``components/macvtap_vm/component.py`` for when the check runs).
"""

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from components.config import (
    MacvtapAttachment,
    attachment_network_problems,
    dns_label,
    nad_name,
    nad_name_problem,
    nad_settings,
    property_path,
    pydantic_problems,
)
from components.interface import MacvtapNic, hosted, is_plain, own_depends_on, platform_networks, refusal
from components.ownership import owned
from components.platform_export import MacvtapNetwork, PlatformNetwork

TYPE = "kvm-in-a-pod:index:MacvtapNetworks"
COMPONENT = "MacvtapNetworks"
DEFAULT_NAMESPACE = "default"
NETWORKS_SOURCE = "the networks given in networks"

# macvtap-cni accepts these CNI versions; 0.3.1 is what upstream's examples use (domain.md).
CNI_VERSION = "0.3.1"


@dataclass(frozen=True)
class NadSpec:
    """One shared NAD: its name, its network and the settings every user of it has."""

    name: str
    network: str
    settings: Mapping[str, Any]


def nad_for(attachment: MacvtapAttachment) -> NadSpec:
    return NadSpec(nad_name(attachment), attachment.network, nad_settings(attachment))


def nads_for(attachments: Iterable[MacvtapAttachment]) -> list[NadSpec]:
    """Every NAD the attachments need, once each, by name (registration order does not vary)."""
    found: dict[str, NadSpec] = {}
    for attachment in attachments:
        nad = nad_for(attachment)
        found.setdefault(nad.name, nad)
    return [found[name] for name in sorted(found)]


def cni_config(nad: NadSpec) -> str:
    """The NAD's ``spec.config``; deviceID is left to Multus and the device plugin."""
    config: dict[str, Any] = {"cniVersion": CNI_VERSION, "name": nad.name, "type": "macvtap", **nad.settings}
    return json.dumps(config, separators=(",", ":"))


def nad_manifest(nad: NadSpec, namespace: str, resource_name: str) -> dict[str, Any]:
    """``resource_name`` is the device plugin resource the platform advertises for the network."""
    return {
        "metadata": {
            "name": nad.name,
            "namespace": namespace,
            "annotations": {"k8s.v1.cni.cncf.io/resourceName": resource_name},
        },
        "spec": {"config": cni_config(nad)},
    }


def nad_configs_digest(configs: Mapping[str, str]) -> str:
    """A short digest of the ``spec.config`` of a VM's NADs, by NAD name.

    Multus and the macvtap CNI read a NAD only when the VM's pod is created, so a VM carries
    this digest: a NAD change then changes exactly the VMs that use it.
    """
    canonical = json.dumps(dict(sorted(configs.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class MacvtapNetworksArgs(TypedDict):
    """The arguments of a MacvtapNetworks: the shared NADs that the macvtap NICs of a set of VMs go through."""

    networks: pulumi.Input[Mapping[str, pulumi.Input[MacvtapNetwork]]]
    """The platform's networks by name: the `networks` of a platform stack's `macvtapPlatform` output (a StackReference)."""
    macvtap: Sequence[MacvtapNic]
    """The `macvtap` NICs of all the VMs that will use these NADs; plain values, as they decide which NADs exist (mac: unused)."""
    namespace: NotRequired[pulumi.Input[str]]
    """The namespace of the NADs, which must be the VMs' (default `default`)."""


class _Placement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = DEFAULT_NAMESPACE

    _namespace = field_validator("namespace")(dns_label)


@dataclass(frozen=True)
class _Checked:
    namespace: str
    networks: dict[str, PlatformNetwork]


def check_nics(nics: Sequence[Any]) -> tuple[list[MacvtapAttachment], list[tuple[str, str]]]:
    """The NICs as attachments, or their problems by path: plain values, each a valid attachment with a NAD name that fits."""
    if not isinstance(nics, list | tuple):
        return [], [("macvtap", "must be a plain list: the NICs decide which NADs exist")]
    attachments: list[MacvtapAttachment] = []
    problems: list[tuple[str, str]] = []
    for index, nic in enumerate(nics):
        path = ("macvtap", index)
        if not is_plain(nic):
            problems.append(
                (property_path(path), "must be plain values here: a NIC's network, mtu and promiscMode decide which NADs exist")
            )
            continue
        try:
            attachment = MacvtapAttachment.model_validate(nic)
        except ValidationError as error:
            problems += pydantic_problems(error, path=functools.partial(_under, path))
            continue
        if problem := nad_name_problem(attachment):
            problems.append((property_path((*path, "network")), problem))
        attachments.append(attachment)
    return attachments, problems


def check_placement(
    attachments: Sequence[MacvtapAttachment], networks: Any, namespace: Any
) -> tuple[_Checked | None, list[tuple[str, str]]]:
    """The namespace and the platform's networks, or their problems: each NIC's network must be one of them, at most its MTU."""
    found, problems = platform_networks(networks)
    try:
        placement = _Placement.model_validate({"namespace": namespace} if namespace is not None else {})
    except ValidationError as error:
        problems += pydantic_problems(error, path=property_path)
        placement = None
    if found:
        mtus = {name: network.mtu for name, network in found.items()}
        problems += [
            (property_path(("macvtap", index, field)), problem)
            for index, attachment in enumerate(attachments)
            for field, problem in attachment_network_problems(attachment, mtus, NETWORKS_SOURCE)
        ]
    if problems or placement is None:
        return None, problems
    return _Checked(placement.namespace, found), []


class MacvtapNetworks(pulumi.ComponentResource):
    """The shared NetworkAttachmentDefinitions of a set of VMs' macvtap NICs: one per network, mtu and promiscMode."""

    nads: pulumi.Output[dict[str, str]]
    """The NADs by name, each with its CNI config: what a MacvtapVM of these NICs takes as its `nads`."""

    def __init__(
        self,
        name: str,
        args: MacvtapNetworksArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        prerequisites: Sequence[pulumi.Resource] = (),
    ) -> None:
        """``prerequisites`` (Python only): what the NADs wait for besides the component's ``depends_on``: Multus,
        which brings their CRD, and the namespace, when the program holds them itself."""
        attachments, nic_problems = check_nics(args["macvtap"])
        networks, namespace = args["networks"], args.get("namespace")
        checked_now: _Checked | None = None
        if not hosted() and not nic_problems and is_plain(networks) and is_plain(namespace):
            checked_now, problems = check_placement(attachments, networks, namespace)
            if checked_now is None:
                raise refusal(COMPONENT, name, problems)
        elif not hosted() and nic_problems:
            raise refusal(COMPONENT, name, nic_problems)
        super().__init__(TYPE, name, None, opts)

        checked = pulumi.Output.all(pulumi.Output.from_input(networks), pulumi.Output.from_input(namespace)).apply(
            lambda values: checked_now or _checked(name, attachments, nic_problems, values[0], values[1])
        )
        depends_on = [*prerequisites, *own_depends_on(opts)]
        # NAD name -> the resource and its spec.config: for a Python program that wires VMs to them itself.
        self.nad_resources: dict[str, k8s.apiextensions.CustomResource] = {}
        self.configs: dict[str, str] = {}
        for nad in [] if nic_problems else nads_for(attachments):
            self.configs[nad.name] = cni_config(nad)
            self.nad_resources[nad.name] = k8s.apiextensions.CustomResource(
                f"{name}-{nad.name}",
                api_version="k8s.cni.cncf.io/v1",
                kind="NetworkAttachmentDefinition",
                metadata=checked.apply(functools.partial(_nad_metadata, nad)),
                spec={"config": self.configs[nad.name]},
                # Fixed names (no auto-naming) keep inputs deterministic; a replacement must
                # then delete the old object first.
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, delete_before_replace=True),
            )
        configs = dict(self.configs)
        # Through the NADs' URNs, so that whatever takes this output (a MacvtapVM's nads) waits for them.
        self.nads = pulumi.Output.all(checked, *(nad.urn for nad in self.nad_resources.values())).apply(lambda _: configs)
        self.register_outputs({"nads": self.nads})


def _under(prefix: tuple[int | str, ...], location: tuple[int | str, ...]) -> str:
    return property_path((*prefix, *location))


def _nad_metadata(nad: NadSpec, checked: _Checked) -> Any:
    return owned(nad_manifest(nad, checked.namespace, checked.networks[nad.network].resource_name)["metadata"])


def _checked(
    name: str, attachments: Sequence[MacvtapAttachment], nic_problems: list[tuple[str, str]], networks: Any, namespace: Any
) -> _Checked:
    checked, problems = (None, nic_problems) if nic_problems else check_placement(attachments, networks, namespace)
    if checked is None:
        raise refusal(COMPONENT, name, problems)
    return checked
