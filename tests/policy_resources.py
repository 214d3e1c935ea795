"""Hand-built resources of the shapes the program registers, and calls into policies as the analyzer makes them.

Props reach every policy through pulumi_policy's unknown-checking proxy, as under the CLI.
"""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policies.guardrails import kinds, policy_named

# --- builders for the shapes the program registers -----------------------------------------

MACVTAP_CNI = {"cniVersion": "0.3.1", "name": "dataplane", "type": "macvtap", "mtu": 1500}


def nad(
    name: str = "dataplane",
    resource: str | None = "macvtap.network.kubevirt.io/dataplane",
    config: Any = MACVTAP_CNI,
    namespace: str = "default",
) -> dict[str, Any]:
    annotations = {} if resource is None else {kinds.RESOURCE_NAME_ANNOTATION: resource}
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"config": config if isinstance(config, str) else json.dumps(config)},
    }


def macvtap_iface(name: str, mac: str | None = None, legacy: bool = False) -> dict[str, Any]:
    iface: dict[str, Any] = {"name": name}
    if legacy:
        iface["macvtap"] = {}
    else:
        iface["binding"] = {"name": "macvtap"}
    if mac is not None:
        iface["macAddress"] = mac
    return iface


def vmi_spec(
    macvtap: list[dict[str, Any]] | None = None,
    networks: dict[str, str] | None = None,
    memory: Any = "1024M",
    cores: Any = 1.0,
) -> dict[str, Any]:
    """A VMI spec: a masquerade pod interface plus the given macvtap interfaces.

    ``networks`` maps interface name -> multus networkName (default "dataplane", the shared NAD of that
    network without settings).
    """
    macvtap = [macvtap_iface("macvtap0")] if macvtap is None else macvtap
    networks = networks or {}
    spec: dict[str, Any] = {
        "domain": {
            "cpu": {"cores": cores},
            "resources": {"requests": {"memory": memory}},
            "devices": {"interfaces": [{"name": "default", "masquerade": {}}, *macvtap], "rng": {}},
        },
        "networks": [{"name": "default", "pod": {}}]
        + [{"name": i["name"], "multus": {"networkName": networks.get(i["name"], "dataplane")}} for i in macvtap],
    }
    if memory is None:
        del spec["domain"]["resources"]
    return spec


def vmi(name: str = "vm1", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": vmi_spec(**spec),
    }


def virtual_machine(name: str = "vm1", run_strategy: Any = "Always", **spec: Any) -> dict[str, Any]:
    """A VirtualMachine as the program registers it (contracts.md): the VMI spec at spec.template.spec."""
    template = {
        "metadata": {"labels": {"kubevirt.io/vm": name}, "annotations": {"kvm-in-a-pod.io/nad-configs-digest": "0" * 64}},
        "spec": vmi_spec(**spec),
    }
    vm_spec: dict[str, Any] = {"template": template}
    if run_strategy is not None:
        vm_spec["runStrategy"] = run_strategy
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name, "namespace": "default"}, "spec": vm_spec}


def dp_configmap(entries: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "macvtap-deviceplugin-config", "namespace": "kvm-in-a-pod"},
        "data": {"DP_MACVTAP_CONF": entries if isinstance(entries, str) else json.dumps(entries)},
    }


def device(name: str = "dataplane", capacity: int | None = 100, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "lowerDevice": "eth0", "mode": "bridge", **fields}
    if capacity is not None:
        entry["capacity"] = capacity
    return entry


def connection(host: Any = "192.0.2.11", port: Any = 22.0, host_key: str | None = "ssh-ed25519 AAAA") -> dict[str, Any]:
    conn: dict[str, Any] = {"host": host, "port": port, "user": "root", "privateKey": "fake"}
    if host_key is not None:
        conn["hostKey"] = host_key
    return conn


# --- calling policies -----------------------------------------------------------------------


def _options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def check_resource(policy_name: str, resource_type: str, props: dict[str, Any], config: dict[str, Any] | None = None) -> list[str]:
    """The violation messages of one resource policy on one resource."""
    policy = policy_named(policy_name)
    assert isinstance(policy, ResourceValidationPolicy)
    messages: list[str] = []
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(props),
        f"urn:pulumi:test::kvm-in-a-pod::{resource_type}::r",
        "r",
        _options(),
        None,
        config,
    )

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    policy.validate(args, report)
    return messages


def resource(
    resource_type: str,
    name: str,
    props: dict[str, Any] | None = None,
    parent: PolicyResource | None = None,
    dependencies: list[PolicyResource] | None = None,
) -> PolicyResource:
    urn = f"urn:pulumi:test::kvm-in-a-pod::{resource_type}::{name}"
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(props or {}),
        urn,
        name,
        _options(parent.urn if parent else None),
        None,
        parent,
        dependencies or [],
        {},
    )


def check_stack(policy_name: str, resources: list[PolicyResource], config: dict[str, Any] | None = None) -> list[tuple[str, str | None]]:
    """The (message, urn) violations of one stack policy."""
    policy = policy_named(policy_name)
    assert isinstance(policy, StackValidationPolicy)
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append((message, urn))

    policy.validate(StackValidationArgs(resources, config), report)
    return found


NAD_TYPE = kinds.NAD_TYPE
VMI_TYPE = kinds.VMI_TYPE
VM_TYPE = kinds.VM_TYPE
CONFIGMAP_TYPE = kinds.CONFIGMAP_TYPE


# --- stack builders ---------------------------------------------------------------------------


def stack(
    vms: list[dict[str, Any]],
    nads: list[dict[str, Any]] | None = None,
    devices: Any = None,
) -> list[PolicyResource]:
    """NADs, VMs of either kind and (optionally) the device plugin ConfigMap, no graph."""
    resources = [resource(NAD_TYPE, f"nad{i}", props) for i, props in enumerate(nads or [nad()])]
    resources += [vm_resource(props) for props in vms]
    if devices is not None:
        resources.append(resource(CONFIGMAP_TYPE, "macvtap-config", dp_configmap(devices)))
    return resources


def vm_resource(props: dict[str, Any], dependencies: list[PolicyResource] | None = None) -> PolicyResource:
    """A VMI ("<name>-vmi") or VirtualMachine ("<name>-vm") resource, by the props' kind."""
    name = props["metadata"]["name"]
    if props["kind"] == "VirtualMachine":
        return resource(VM_TYPE, f"{name}-vm", props, dependencies=dependencies)
    return resource(VMI_TYPE, f"{name}-vmi", props, dependencies=dependencies)


def platform_export(networks: dict[str, Any] | None = None, node_count: Any = 2.0) -> dict[str, Any]:
    """A platform stack's macvtapPlatform output (contracts.md); networks maps name -> capacityPerNode."""
    networks = {"dataplane": 50.0} if networks is None else networks
    return {
        "kubevirtVersion": "v1.9.0",
        "networks": {
            name: {
                "resourceName": f"macvtap.network.kubevirt.io/{name}",
                "capacityPerNode": capacity,
                "lowerDevice": "eth0",
                "mode": "bridge",
            }
            for name, capacity in networks.items()
        },
        "nodeCount": node_count,
        "cniInstall": "ssh" if node_count is not None else "daemonset",
    }


def stack_reference(outputs: Any, name: str = "platform", stack_name: str = "acme/kvm-in-a-pod/platform") -> PolicyResource:
    """A StackReference as stack policies see it: its outputs, not just its inputs."""
    return resource(kinds.STACK_REFERENCE_TYPE, name, {"name": stack_name, "outputs": outputs, "secretOutputNames": []})


def vms_stack(vms: list[dict[str, Any]], outputs: Any, nads: list[dict[str, Any]] | None = None) -> list[PolicyResource]:
    """A vms stack: a StackReference to the platform, NADs and VMs that depend on the reference."""
    reference = stack_reference(outputs)
    shared = [resource(NAD_TYPE, f"nad{i}", props) for i, props in enumerate(nads or [nad()])]
    return [reference, *shared, *(vm_resource(props, dependencies=[reference, *shared]) for props in vms)]


def node_installs(*connections: dict[str, Any]) -> list[PolicyResource]:
    component = resource(kinds.NODE_CNI_INSTALL_COMPONENT, "macvtap-cni")
    commands = [
        resource(kinds.REMOTE_COMMAND_TYPE, f"install-{i}", {"create": "sh", "connection": conn}, parent=component)
        for i, conn in enumerate(connections)
    ]
    return [component, *commands]


def two_macvtap_vms(count: int = 2) -> list[dict[str, Any]]:
    return [vmi(name=f"vm{i}") for i in range(count)]


def platform() -> tuple[PolicyResource, PolicyResource]:
    kubevirt_cr = resource(kinds.KUBEVIRT_TYPE, "kubevirt-cr")
    plugin = resource(kinds.DEVICE_PLUGIN_COMPONENT, "macvtap")
    daemonset = resource(kinds.DAEMONSET_TYPE, "macvtap-daemonset", parent=plugin)
    return kubevirt_cr, daemonset
