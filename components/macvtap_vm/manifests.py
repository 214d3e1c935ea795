"""The pure builders of a MacvtapVM: a KubeVirt VM (a VirtualMachineInstance or a VirtualMachine) with a
masquerade pod NIC plus one macvtap NIC per attachment, each on its network's shared NAD (``MacvtapNetworks``).

Lifecycle on a real cluster (issue 11):

- A VMI's spec is immutable: virt-api's VMI update admitter refuses any spec change by anyone
  but KubeVirt's service accounts ("update of VMI object is restricted"; kubevirt
  pkg/virt-api/webhooks/validating-webhook/admitters/vmi-update-admitter.go). So any spec
  change replaces the VMI, and since its name is fixed the old one is deleted first.
- Multus and the macvtap CNI read a NAD only when the VM's pod is created, so the VM carries a
  digest of its NADs' configs; a NAD change then replaces (VMI) or updates (VirtualMachine)
  exactly the VMs that use it.
- A VirtualMachine's template is mutable: a change updates it, and KubeVirt applies it at the
  next restart, flagged by the ``RestartRequired`` condition (user guide, "VM Rollout
  Strategies").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components import cloud_init
from components.config import VM, MacvtapAttachment, RunStrategy, VMKind, nad_name
from components.macvtap_networks import nad_configs_digest

POD_INTERFACE = "default"
NAD_DIGEST_ANNOTATION = "kvm-in-a-pod.io/nad-configs-digest"
# The metadata.generation of each NAD the VM uses, as the API server reports it (`lan=1,...`). The
# server raises it on every change of a NAD's spec, also a hand edit that `pulumi up --refresh` then
# sets back: a VM started in between may have read the edited config, so the VM follows as for a
# NAD change made in config (found by make e2e). Unknown generations (offline, or a NAD not created
# yet) leave the annotation out rather than guess.
NAD_GENERATIONS_ANNOTATION = "kvm-in-a-pod.io/nad-generations"
# Pulumi property paths (resource.ParsePropertyPath): a key holding "." is written ["..."]. The
# engine turns an update into a replacement when a changed path of the provider's detailed diff
# lies under one of these (step_generator.go, applyReplaceOnChanges); the kubernetes provider
# reports leaf paths such as spec.domain.resources.requests.memory.
VMI_REPLACE_ON_CHANGES = (
    "spec",
    f'metadata.annotations["{NAD_DIGEST_ANNOTATION}"]',
    f'metadata.annotations["{NAD_GENERATIONS_ANNOTATION}"]',
)
# `virtctl start/stop/restart` per run strategy, as KubeVirt's user guide ("Run Strategies")
# tabulates them: only the ones that do something. `stop` of an Always or RerunOnFailure VM and
# `start` of a Halted one also rewrite spec.runStrategy.
VIRTCTL_ACTIONS: Mapping[RunStrategy, tuple[str, ...]] = {
    RunStrategy.ALWAYS: ("stop", "restart"),
    RunStrategy.RERUN_ON_FAILURE: ("stop", "restart"),
    RunStrategy.MANUAL: ("start", "stop", "restart"),
    RunStrategy.HALTED: ("start",),
}
# Run strategies under which KubeVirt starts the VM by itself, so `pulumi up` can wait for its
# Ready condition (kubevirt.io/v1 VirtualMachineReady: "copied to the virtual machine from its vmi").
AWAITED_RUN_STRATEGIES: tuple[RunStrategy, ...] = (RunStrategy.ALWAYS, RunStrategy.RERUN_ON_FAILURE)
# A macvtap VM cannot live-migrate (KubeVirt user guide, "Macvtap binding": migration support
# No). Under a LiveMigrate eviction strategy, which clusters often set cluster-wide (the KubeVirt
# CR's spec.configuration.evictionStrategy; HCO's default), virt-api denies the eviction of a
# non-migratable VMI (429), so `kubectl drain` never finishes. "None" lets the drain evict it: the
# guest is shut down, a VirtualMachine's run strategy starts it again on another node, a bare VMI
# is gone until the next `pulumi up` (kubevirt docs/handling-eviction-requests.md). It is KubeVirt's
# own default (virt-config defaultClusterConfig), set here so a cluster-wide default cannot block.
EVICTION_STRATEGY = "None"


def derive_mac(stack: str, vm_name: str, interface: str) -> str:
    """A stable MAC for an interface: locally administered, unicast, from stack/VM/interface.

    macvtap only keeps a MAC it is given; without one a restarted VMI gets a new random
    address and a new DHCP lease (domain.md).
    """
    digest = hashlib.sha256(f"{stack}/{vm_name}/{interface}".encode()).digest()
    first = (digest[0] & 0b11111100) | 0b00000010  # unicast (bit 0 clear), local (bit 1 set)
    return ":".join(f"{octet:02x}" for octet in (first, *digest[1:6]))


def macvtap_interface_name(index: int) -> str:
    return f"macvtap{index}"


@dataclass(frozen=True)
class PlannedAttachment:
    """One macvtap NIC of a VM, with every derived name resolved."""

    interface: str
    nad_name: str
    network: str
    mac: str
    attachment: MacvtapAttachment


def plan_attachments(stack: str, vm: VM) -> list[PlannedAttachment]:
    planned = []
    for index, attachment in enumerate(vm.macvtap):
        interface = macvtap_interface_name(index)
        planned.append(
            PlannedAttachment(
                interface=interface,
                nad_name=nad_name(attachment),
                network=attachment.network,
                mac=attachment.mac or derive_mac(stack, vm.name, interface),
                attachment=attachment,
            )
        )
    return planned


def nads_used_by(vm: VM) -> list[str]:
    """The names of the NADs ``vm`` attaches to, once each, sorted."""
    return sorted({nad_name(attachment) for attachment in vm.macvtap})


def cloud_init_user_data(vm: VM) -> str:
    if vm.user_data is not None:
        return vm.user_data
    return cloud_init.user_data(vm.ssh_authorized_keys)


def cloud_init_network_data(pod_mac: str, attachments: Sequence[PlannedAttachment]) -> str:
    """netplan v2: DHCP on the pod NIC and on every macvtap NIC, each matched by its MAC.

    macvtap has no IPAM: the address comes from the DHCP server on the node's L2 network.
    """
    return cloud_init.network_data({POD_INTERFACE: pod_mac, **{planned.interface: planned.mac for planned in attachments}})


def cloud_init_secret_name(vm: VM) -> str:
    """The Secret that holds a VM's user data when it carries the console password."""
    return f"{vm.name}-cloud-init"


def cloud_init_source(vm: VM, network_data: str, user_data_secret: str | None) -> dict[str, Any]:
    """The cloudInitNoCloud volume: the user data inline, or (it holds a password) from ``user_data_secret``.

    KubeVirt reads a secretRef Secret's ``userdata`` key and keeps inline networkData
    (pkg/cloud-init/cloud-init.go, resolveNoCloudSecrets), so the MACs stay readable in the spec.
    """
    if user_data_secret is None:
        return {"userData": cloud_init_user_data(vm), "networkData": network_data}
    return {"secretRef": {"name": user_data_secret}, "networkData": network_data}


def cloud_init_secret_manifest(vm: VM, namespace: str, user_data: Any) -> dict[str, Any]:
    """The Secret (core/v1) with a VM's user data under ``userdata``; ``user_data`` a secret Output."""
    return {
        "metadata": {"name": cloud_init_secret_name(vm), "namespace": namespace, "labels": vm_labels(vm)},
        "type": "Opaque",
        "string_data": {"userdata": user_data},
    }


def vmi_spec(stack: str, vm: VM, user_data_secret: str | None = None) -> dict[str, Any]:
    """The VMI spec for ``vm``: a VMI's ``spec``, a VirtualMachine's ``spec.template.spec``."""
    attachments = plan_attachments(stack, vm)
    pod_mac = derive_mac(stack, vm.name, POD_INTERFACE)
    interfaces: list[dict[str, Any]] = [{"name": POD_INTERFACE, "masquerade": {}, "macAddress": pod_mac}]
    networks: list[dict[str, Any]] = [{"name": POD_INTERFACE, "pod": {}}]
    for planned in attachments:
        # The core `macvtap: {}` binding was discontinued in KubeVirt v1.3; macvtap is now
        # the network binding plugin registered in the KubeVirt CR.
        interfaces.append({"name": planned.interface, "binding": {"name": "macvtap"}, "macAddress": planned.mac})
        networks.append({"name": planned.interface, "multus": {"networkName": planned.nad_name}})
    return {
        "domain": {
            "cpu": {"cores": vm.cpu_cores},
            "resources": {"requests": {"memory": vm.memory}},
            "devices": {
                "disks": [
                    {"name": "containerdisk", "disk": {"bus": "virtio"}},
                    {"name": "cloudinitdisk", "disk": {"bus": "virtio"}},
                ],
                "interfaces": interfaces,
                "rng": {},
            },
        },
        "evictionStrategy": EVICTION_STRATEGY,
        "networks": networks,
        "terminationGracePeriodSeconds": 30,
        "volumes": [
            {"name": "containerdisk", "containerDisk": {"image": vm.image}},
            {
                "name": "cloudinitdisk",
                "cloudInitNoCloud": cloud_init_source(vm, cloud_init_network_data(pod_mac, attachments), user_data_secret),
            },
        ],
    }


def vm_labels(vm: VM) -> dict[str, str]:
    # Never under kubevirt.io/: virt-api guards those labels on a VMI too.
    return {"app.kubernetes.io/name": vm.name, "app.kubernetes.io/part-of": "kvm-in-a-pod"}


def _wait_until_ready(vm: VM) -> dict[str, str]:
    return {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": str(vm.ready_timeout_seconds)}


def vmi_manifest(stack: str, vm: VM, namespace: str, nad_configs: Mapping[str, str], user_data_secret: str | None = None) -> dict[str, Any]:
    """The VirtualMachineInstance (kubevirt.io/v1) for ``vm``; ``nad_configs`` maps its NADs to their configs."""
    return {
        "metadata": {
            "name": vm.name,
            "namespace": namespace,
            "labels": vm_labels(vm),
            "annotations": {**_wait_until_ready(vm), NAD_DIGEST_ANNOTATION: nad_configs_digest(nad_configs)},
        },
        "spec": vmi_spec(stack, vm, user_data_secret),
    }


def virtual_machine_manifest(
    stack: str, vm: VM, namespace: str, nad_configs: Mapping[str, str], user_data_secret: str | None = None
) -> dict[str, Any]:
    """The VirtualMachine (kubevirt.io/v1) for ``vm``: the same VMI spec, as its template."""
    run_strategy = vm.effective_run_strategy
    return {
        "metadata": {
            "name": vm.name,
            "namespace": namespace,
            "labels": vm_labels(vm),
            # Halted and Manual VMs are not started by KubeVirt: nothing to wait for.
            **({"annotations": _wait_until_ready(vm)} if run_strategy in AWAITED_RUN_STRATEGIES else {}),
        },
        "spec": {
            "runStrategy": run_strategy.value,
            "template": {
                "metadata": {"labels": vm_labels(vm), "annotations": {NAD_DIGEST_ANNOTATION: nad_configs_digest(nad_configs)}},
                "spec": vmi_spec(stack, vm, user_data_secret),
            },
        },
    }


CONSOLE_LOGIN = "the image's default user (fedora for the default image), password kvm-in-a-pod:consolePassword"


def vm_outputs(vm: VM, namespace: str, macs: Mapping[str, str], *, console_login: bool = False) -> dict[str, Any]:
    """What a user needs per VM: where it is, its MACs and NADs, and the virtctl commands that apply."""

    def virtctl(action: str) -> str:
        return f"virtctl {action} -n {namespace} {vm.name}"

    outputs: dict[str, Any] = {
        "kind": vm.kind.value,
        "namespace": namespace,
        "macs": dict(macs),
        "nads": nads_used_by(vm),
        "console": virtctl("console"),
        **({"consoleLogin": CONSOLE_LOGIN} if console_login else {}),
    }
    if vm.kind == VMKind.VIRTUAL_MACHINE_INSTANCE:
        outputs["onChange"] = "a spec or NAD change replaces the VMI: pulumi up deletes it, then creates it (the guest reboots)"
        return outputs
    run_strategy = vm.effective_run_strategy
    outputs["runStrategy"] = run_strategy.value
    outputs.update({action: virtctl(action) for action in VIRTCTL_ACTIONS[run_strategy]})
    when = "at its next start" if run_strategy == RunStrategy.HALTED else f"at its next restart ({virtctl('restart')})"
    outputs["onChange"] = (
        f"a spec or NAD change updates the VirtualMachine; KubeVirt applies it {when} and sets the RestartRequired condition until then"
    )
    return outputs
