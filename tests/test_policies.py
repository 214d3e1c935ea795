"""Claims about each policy of the macvtap-guardrails pack, called directly as the analyzer calls it.

Props reach every policy through pulumi_policy's unknown-checking proxy, as under the CLI.

- macvtap-nad-resource-annotation: a macvtap NAD names a `macvtap.network.kubevirt.io/<name>`
  resource; a missing or foreign annotation is refused; other CNI plugins are not its business;
  a macvtap plugin inside a conflist counts.
- macvtap-nad-config: a macvtap NAD's config is JSON with cniVersion and type macvtap (when it
  requests a macvtap device), an mtu within minMtu..maxMtu (68..9000 unless configured), and
  no hand-set deviceID.
- macvtap-interfaces-per-vm: a VMI or a VirtualMachine's template attaches at most
  maxMacvtapInterfaces (2 unless configured) macvtap interfaces, legacy ones included.
- macvtap-no-legacy-binding: the core `macvtap: {}` binding is refused, `binding: {name: macvtap}` passes.
- vm-resource-limits: a VM requests memory; memory (a Kubernetes quantity in any unit) and CPU
  cores stay within maxMemory (16Gi) and maxCpuCores (8) unless configured.
- macvtap-device-plugin-config: DP_MACVTAP_CONF is a JSON array of uniquely, DNS-1123 named
  devices with a lowerDevice, mode bridge/vepa/private (default bridge) and a capacity in
  1..maxCapacityPerDevice (1000; default capacity 100); other ConfigMaps are ignored.
- macvtap-capacity: per macvtap resource, the stack's VMs request no more interfaces than
  capacity x nodes; nodes come from nodeCount (default 1), or from the distinct host:port of the
  NodeCniInstall commands when the stack has them and they are known.
- macvtap-resource-known: with a device plugin config in the stack, every macvtap NAD requests
  an advertised resource; without one (or with "[]") nothing can be told.
- macvtap-unique-macs: no two macvtap interfaces share a MAC, whatever the case.
- vm-waits-for-platform: a VMI reaches the KubeVirt CR and the device plugin DaemonSet through
  dependencies and parents, transitively; only what the stack deploys is required.
- ssh-host-key-pinned: remote commands and copies pin connection.hostKey.
- In preview, an unknown value makes a policy skip that check; it never raises or reports. Known
  demand beyond supply is still reported: it is a lower bound.
- The pack: the eleven policy names, each with a description and an enforcement level, a config
  schema with defaults for every knob, advisory only for the two ordering/SSH hygiene checks.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies import guardrails
from policies.guardrails import POLICIES, parse_quantity, policy_named

# --- builders for the shapes the program registers -----------------------------------------

MACVTAP_CNI = {"cniVersion": "0.3.1", "name": "vm1-dataplane", "type": "macvtap", "mtu": 1500}


def nad(
    name: str = "vm1-dataplane",
    resource: str | None = "macvtap.network.kubevirt.io/dataplane",
    config: Any = MACVTAP_CNI,
    namespace: str = "default",
) -> dict[str, Any]:
    annotations = {} if resource is None else {guardrails.RESOURCE_NAME_ANNOTATION: resource}
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

    ``networks`` maps interface name -> multus networkName (default "vm1-dataplane").
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
        + [{"name": i["name"], "multus": {"networkName": networks.get(i["name"], "vm1-dataplane")}} for i in macvtap],
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


def virtual_machine(name: str = "vm1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"runStrategy": "Always", "template": {"spec": vmi_spec(**spec)}},
    }


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


NAD_TYPE = guardrails.NAD_TYPE
VMI_TYPE = guardrails.VMI_TYPE
CONFIGMAP_TYPE = guardrails.CONFIGMAP_TYPE


# --- macvtap-nad-resource-annotation --------------------------------------------------------


def test_macvtap_nad_with_device_plugin_resource_passes() -> None:
    assert check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad()) == []


def test_macvtap_nad_without_resource_annotation_is_refused() -> None:
    [message] = check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=None))
    assert "'r'" in message and "k8s.v1.cni.cncf.io/resourceName" in message
    assert "macvtap.network.kubevirt.io/" in message


@pytest.mark.parametrize("resource_name", ["intel.com/sriov", "macvtap.network.kubevirt.io/", "dataplane"])
def test_macvtap_nad_with_foreign_resource_is_refused(resource_name: str) -> None:
    [message] = check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=resource_name))
    assert repr(resource_name) in message


def test_nads_of_other_cni_plugins_need_no_macvtap_resource() -> None:
    bridge = {"cniVersion": "0.3.1", "name": "br", "type": "bridge", "bridge": "br0"}
    assert check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=None, config=bridge)) == []


def test_macvtap_plugin_inside_a_conflist_counts_as_macvtap() -> None:
    conflist = {"cniVersion": "0.3.1", "name": "x", "plugins": [{"type": "macvtap"}, {"type": "tuning"}]}
    assert len(check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=None, config=conflist))) == 1


# --- macvtap-nad-config ---------------------------------------------------------------------


def test_valid_macvtap_cni_config_passes() -> None:
    assert check_resource("macvtap-nad-config", NAD_TYPE, nad()) == []


def test_macvtap_nad_config_that_is_not_json_is_refused() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config='{"type": "macvtap",'))
    assert "not valid JSON" in message and "'r'" in message


def test_macvtap_nad_config_without_cni_version_is_refused() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={"name": "x", "type": "macvtap"}))
    assert "cniVersion" in message


def test_nad_requesting_a_macvtap_device_without_spec_config_is_refused() -> None:
    without_config = nad()
    del without_config["spec"]["config"]
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, without_config)
    assert "no spec.config" in message and "'r'" in message


def test_nad_of_another_plugin_without_spec_config_is_not_this_policys_business() -> None:
    without_config = nad(resource=None)
    del without_config["spec"]["config"]
    assert check_resource("macvtap-nad-config", NAD_TYPE, without_config) == []


def test_nad_requesting_a_macvtap_device_must_use_the_macvtap_plugin() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={"cniVersion": "0.3.1", "type": "bridge"}))
    assert "'bridge'" in message and '"type": "macvtap"' in message


@pytest.mark.parametrize(("mtu", "allowed"), [(68, True), (9000, True), (67, False), (9001, False), (1500.5, False)])
def test_mtu_must_lie_within_the_default_range(mtu: float, allowed: bool) -> None:
    messages = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={**MACVTAP_CNI, "mtu": mtu}))
    assert (messages == []) is allowed
    assert allowed or "68..9000" in messages[0]


def test_mtu_range_follows_the_min_and_max_knobs() -> None:
    jumbo = nad(config={**MACVTAP_CNI, "mtu": 9000})
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, jumbo, {"minMtu": 576.0, "maxMtu": 1500.0})
    assert "576..1500" in message
    small = nad(config={**MACVTAP_CNI, "mtu": 600})
    assert check_resource("macvtap-nad-config", NAD_TYPE, small, {"minMtu": 576.0}) == []


def test_hand_set_device_id_is_refused() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={**MACVTAP_CNI, "deviceID": "macvtap7"}))
    assert "deviceID" in message and "Remove" in message


# --- macvtap-interfaces-per-vm --------------------------------------------------------------


def test_two_macvtap_interfaces_are_allowed_by_default() -> None:
    props = vmi(macvtap=[macvtap_iface("a"), macvtap_iface("b")])
    assert check_resource("macvtap-interfaces-per-vm", VMI_TYPE, props) == []


def test_more_macvtap_interfaces_than_allowed_are_refused_legacy_ones_included() -> None:
    props = vmi(macvtap=[macvtap_iface("a"), macvtap_iface("b"), macvtap_iface("c", legacy=True)])
    [message] = check_resource("macvtap-interfaces-per-vm", VMI_TYPE, props)
    assert "VirtualMachineInstance vm1" in message and "3 macvtap interfaces (a, b, c)" in message and "2" in message


def test_interface_limit_follows_the_knob() -> None:
    props = vmi(macvtap=[macvtap_iface("a"), macvtap_iface("b")])
    assert len(check_resource("macvtap-interfaces-per-vm", VMI_TYPE, props, {"maxMacvtapInterfaces": 1.0})) == 1


def test_virtual_machine_templates_are_counted_too() -> None:
    props = virtual_machine(macvtap=[macvtap_iface("a"), macvtap_iface("b"), macvtap_iface("c")])
    [message] = check_resource("macvtap-interfaces-per-vm", guardrails.VM_TYPE, props)
    assert "VirtualMachine vm1" in message


# --- macvtap-no-legacy-binding --------------------------------------------------------------


def test_macvtap_binding_plugin_passes() -> None:
    assert check_resource("macvtap-no-legacy-binding", VMI_TYPE, vmi()) == []


def test_core_macvtap_binding_is_refused() -> None:
    props = vmi(macvtap=[macvtap_iface("macvtap0", legacy=True)])
    [message] = check_resource("macvtap-no-legacy-binding", VMI_TYPE, props)
    assert "'macvtap0'" in message and "v1.3" in message and "binding: {name: macvtap}" in message


# --- vm-resource-limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "value"),
    [
        ("1Gi", 2**30),
        ("1024M", 1024 * 10**6),
        ("16Gi", 16 * 2**30),
        ("1.5Ki", 1536),
        ("2Ti", 2 * 2**40),
        ("500k", 500_000),
        ("1e9", 10**9),
        ("1073741824", 2**30),
        (1073741824.0, 2**30),
        ("100m", Decimal("0.1")),
    ],
)
def test_quantities_parse_in_every_unit(quantity: Any, value: Decimal) -> None:
    assert parse_quantity(quantity) == value


@pytest.mark.parametrize("quantity", ["1GB", "one", "-1Gi", "", "1 Gi", True])
def test_invalid_quantities_do_not_parse(quantity: Any) -> None:
    assert parse_quantity(quantity) is None


def test_vm_within_limits_passes() -> None:
    assert check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="16Gi", cores=8.0)) == []


def test_vm_without_memory_request_is_refused() -> None:
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory=None))
    assert "requests no memory" in message and "spec.domain.resources.requests.memory" in message


def test_memory_above_the_maximum_is_refused_across_units() -> None:
    # 17G (decimal) is below 16Gi (binary, 17.18G); 17.2G is above it.
    assert check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="17G")) == []
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="17.2G"))
    assert "17.2G" in message and "16Gi" in message


def test_memory_that_is_not_a_quantity_is_refused() -> None:
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="2 gigs"))
    assert "not a Kubernetes quantity" in message


def test_cpu_cores_above_the_maximum_are_refused() -> None:
    [message] = check_resource("vm-resource-limits", VMI_TYPE, vmi(cores=9.0))
    assert "9 CPU cores" in message and "8" in message


def test_vm_limits_follow_the_knobs() -> None:
    config = {"maxMemory": "1Gi", "maxCpuCores": 2.0}
    assert check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="1024Mi", cores=2.0), config) == []
    messages = check_resource("vm-resource-limits", VMI_TYPE, vmi(memory="1025Mi", cores=3.0), config)
    assert len(messages) == 2


def test_invalid_max_memory_knob_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="maxMemory"):
        check_resource("vm-resource-limits", VMI_TYPE, vmi(), {"maxMemory": "lots"})


# --- macvtap-device-plugin-config -----------------------------------------------------------


def test_valid_device_plugin_config_passes_with_upstream_defaults() -> None:
    entries = [device("lan"), {"name": "storage", "lowerDevice": "eno3"}]  # mode bridge, capacity 100
    assert check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap(entries)) == []


@pytest.mark.parametrize(("text", "expected"), [("[{", "not valid JSON"), ('{"name": "lan"}', "not a JSON array")])
def test_device_plugin_config_must_be_a_json_array(text: str, expected: str) -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap(text))
    assert expected in message and "DP_MACVTAP_CONF" in message


def test_device_plugin_config_without_its_key_is_refused() -> None:
    props = dp_configmap([])
    props["data"] = {}
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, props)
    assert "no data.DP_MACVTAP_CONF" in message


@pytest.mark.parametrize("name", ["Lan", "lan_1", "-lan", "", None])
def test_device_names_must_be_dns1123_labels(name: Any) -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(name)]))
    assert "DNS-1123" in message


def test_device_names_must_be_unique() -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(), device()]))
    assert "repeats the name 'dataplane'" in message


def test_device_without_lower_device_is_refused() -> None:
    entry = device()
    del entry["lowerDevice"]
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([entry]))
    assert "no lowerDevice" in message


def test_passthru_mode_is_refused() -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(mode="passthru")]))
    assert "'passthru'" in message and "bridge, vepa, private" in message


@pytest.mark.parametrize(("capacity", "allowed"), [(1, True), (1000, True), (0, False), (1001, False), ("10", False)])
def test_capacity_must_lie_within_one_and_the_default_maximum(capacity: Any, allowed: bool) -> None:
    messages = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(capacity=capacity)]))
    assert (messages == []) is allowed


def test_capacity_maximum_follows_the_knob() -> None:
    props = dp_configmap([device(capacity=100)])
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, props, {"maxCapacityPerDevice": 50.0})
    assert "1..50" in message


def test_other_config_maps_are_ignored() -> None:
    props = dp_configmap("not json")
    props["metadata"]["name"] = "something-else"
    assert check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, props) == []


# --- stack builders ---------------------------------------------------------------------------


def stack(
    vms: list[dict[str, Any]],
    nads: list[dict[str, Any]] | None = None,
    devices: Any = None,
) -> list[PolicyResource]:
    """NADs, VMIs and (optionally) the device plugin ConfigMap, no graph."""
    resources = [resource(NAD_TYPE, f"nad{i}", props) for i, props in enumerate(nads or [nad()])]
    resources += [resource(VMI_TYPE, f"{props['metadata']['name']}-vmi", props) for props in vms]
    if devices is not None:
        resources.append(resource(CONFIGMAP_TYPE, "macvtap-config", dp_configmap(devices)))
    return resources


def node_installs(*connections: dict[str, Any]) -> list[PolicyResource]:
    component = resource(guardrails.NODE_CNI_INSTALL_COMPONENT, "macvtap-cni")
    commands = [
        resource(guardrails.REMOTE_COMMAND_TYPE, f"install-{i}", {"create": "sh", "connection": conn}, parent=component)
        for i, conn in enumerate(connections)
    ]
    return [component, *commands]


def two_macvtap_vms(count: int = 2) -> list[dict[str, Any]]:
    return [vmi(name=f"vm{i}") for i in range(count)]


# --- macvtap-capacity -----------------------------------------------------------------------


def test_demand_within_capacity_times_nodes_passes() -> None:
    resources = stack(two_macvtap_vms(2), devices=[device(capacity=2)])
    assert check_stack("macvtap-capacity", resources) == []


def test_demand_beyond_supply_is_refused_naming_resource_demand_and_supply() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    [(message, urn)] = check_stack("macvtap-capacity", resources)
    assert "'macvtap.network.kubevirt.io/dataplane'" in message
    assert "request 3 interfaces (vm0-vmi/macvtap0, vm1-vmi/macvtap0, vm2-vmi/macvtap0)" in message
    assert "only 2 exist (capacity 2 per node x 1 node(s), from policy config nodeCount)" in message
    assert urn is not None and urn.endswith("::macvtap-config")


def test_node_count_comes_from_the_knob_without_node_installs() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    assert check_stack("macvtap-capacity", resources, {"nodeCount": 2.0}) == []


def test_node_count_comes_from_distinct_hosts_of_node_installs() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    same_host_twice = node_installs(connection("192.0.2.11"), connection("192.0.2.11"))
    [(message, _)] = check_stack("macvtap-capacity", resources + same_host_twice, {"nodeCount": 5.0})
    assert "x 1 node(s), from distinct hosts of the stack's NodeCniInstall commands" in message
    two_ports = node_installs(connection("192.0.2.11", 22.0), connection("192.0.2.11", 2222.0))
    assert check_stack("macvtap-capacity", resources + two_ports) == []


def test_unknown_node_hosts_fall_back_to_the_knob() -> None:
    resources = stack(two_macvtap_vms(3), devices=[device(capacity=2)])
    installs = node_installs(connection(UNKNOWN_STRING_VALUE), connection("192.0.2.12"))
    assert check_stack("macvtap-capacity", resources + installs, {"nodeCount": 2.0}) == []
    assert len(check_stack("macvtap-capacity", resources + installs, {"nodeCount": 1.0})) == 1


def test_known_demand_beyond_supply_is_refused_while_other_vms_are_unknown() -> None:
    unknown_vm = vmi(name="vm9")
    unknown_vm["spec"]["domain"]["devices"]["interfaces"] = UNKNOWN_ARRAY_VALUE
    resources = stack([*two_macvtap_vms(2), unknown_vm], devices=[device(capacity=1)])
    [(message, _)] = check_stack("macvtap-capacity", resources)
    assert "request 2 interfaces" in message


def test_namespaced_network_names_resolve_in_their_namespace() -> None:
    vms = [vmi(name=f"vm{i}", networks={"macvtap0": "net/shared"}) for i in range(2)]
    nads = [
        nad("shared", namespace="net"),
        nad("shared", namespace="default", resource="macvtap.network.kubevirt.io/x"),
    ]
    [(message, _)] = check_stack("macvtap-capacity", stack(vms, nads, devices=[device(capacity=1)]))
    assert "'macvtap.network.kubevirt.io/dataplane'" in message


# --- macvtap-resource-known -----------------------------------------------------------------


def test_nad_requesting_an_advertised_device_passes() -> None:
    assert check_stack("macvtap-resource-known", stack(two_macvtap_vms(), devices=[device()])) == []


def test_nad_requesting_an_unadvertised_device_is_refused() -> None:
    resources = stack(two_macvtap_vms(), [nad(resource="macvtap.network.kubevirt.io/lan")], devices=[device()])
    [(message, urn)] = check_stack("macvtap-resource-known", resources)
    assert "'macvtap.network.kubevirt.io/lan'" in message and "it has: macvtap.network.kubevirt.io/dataplane" in message
    assert urn is not None and urn.endswith("::nad0")


@pytest.mark.parametrize("devices", [None, []], ids=["no-device-plugin-config", "auto-discovery"])
def test_advertised_devices_that_cannot_be_told_are_not_checked(devices: Any) -> None:
    resources = stack(two_macvtap_vms(), [nad(resource="macvtap.network.kubevirt.io/eno1")], devices=devices)
    assert check_stack("macvtap-resource-known", resources) == []


# --- macvtap-unique-macs --------------------------------------------------------------------


def test_distinct_macs_pass() -> None:
    vms = [
        vmi(name="vm1", macvtap=[macvtap_iface("m", "02:00:00:00:00:01")]),
        vmi(name="vm2", macvtap=[macvtap_iface("m", "02:00:00:00:00:02")]),
    ]
    assert check_stack("macvtap-unique-macs", stack(vms)) == []


def test_shared_mac_is_refused_whatever_the_case() -> None:
    vms = [
        vmi(name="vm1", macvtap=[macvtap_iface("m", "02:00:00:00:00:AA")]),
        vmi(name="vm2", macvtap=[macvtap_iface("n", "02:00:00:00:00:aa")]),
    ]
    [(message, urn)] = check_stack("macvtap-unique-macs", stack(vms))
    assert "02:00:00:00:00:aa" in message
    assert "VirtualMachineInstance vm1 interface 'm'" in message
    assert "VirtualMachineInstance vm2 interface 'n'" in message
    assert urn is not None and urn.endswith("::vm2-vmi")


# --- vm-waits-for-platform ------------------------------------------------------------------


def platform() -> tuple[PolicyResource, PolicyResource]:
    kubevirt_cr = resource(guardrails.KUBEVIRT_TYPE, "kubevirt-cr")
    plugin = resource(guardrails.DEVICE_PLUGIN_COMPONENT, "macvtap")
    daemonset = resource(guardrails.DAEMONSET_TYPE, "macvtap-daemonset", parent=plugin)
    return kubevirt_cr, daemonset


def test_vmi_depending_on_kubevirt_and_the_device_plugin_passes() -> None:
    kubevirt_cr, daemonset = platform()
    vm = resource(VMI_TYPE, "vm1-vmi", vmi(), dependencies=[kubevirt_cr, daemonset])
    assert check_stack("vm-waits-for-platform", [kubevirt_cr, daemonset, vm]) == []


def test_vmi_may_wait_through_its_parent_and_transitively() -> None:
    kubevirt_cr, daemonset = platform()
    nad_resource = resource(NAD_TYPE, "vm1-nad", nad(), dependencies=[daemonset])
    component = resource("kvm-in-a-pod:index:MacvtapVM", "vm1", dependencies=[kubevirt_cr])
    vm = resource(VMI_TYPE, "vm1-vmi", vmi(), parent=component, dependencies=[nad_resource])
    assert check_stack("vm-waits-for-platform", [kubevirt_cr, daemonset, nad_resource, component, vm]) == []


def test_vmi_not_waiting_for_the_platform_is_reported() -> None:
    kubevirt_cr, daemonset = platform()
    vm = resource(VMI_TYPE, "vm1-vmi", vmi(), dependencies=[kubevirt_cr])
    [(message, urn)] = check_stack("vm-waits-for-platform", [kubevirt_cr, daemonset, vm])
    assert "'vm1-vmi'" in message and "the macvtap device plugin DaemonSet" in message and "depends_on" in message
    assert urn == vm.urn


def test_only_platform_the_stack_deploys_is_required() -> None:
    assert check_stack("vm-waits-for-platform", [resource(VMI_TYPE, "vm1-vmi", vmi())]) == []


# --- ssh-host-key-pinned --------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", [guardrails.REMOTE_COMMAND_TYPE, guardrails.COPY_TO_REMOTE_TYPE])
def test_remote_connections_must_pin_the_host_key(resource_type: str) -> None:
    pinned = resource(resource_type, "pinned", {"connection": connection()})
    unpinned = resource(resource_type, "unpinned", {"connection": connection("192.0.2.12", host_key=None)})
    [(message, urn)] = check_stack("ssh-host-key-pinned", [pinned, unpinned])
    assert "'unpinned'" in message and "192.0.2.12" in message and "hostKey" in message
    assert urn == unpinned.urn


# --- preview: unknown values ----------------------------------------------------------------

UNKNOWN_RESOURCES = [
    ("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=UNKNOWN_STRING_VALUE)),
    ("macvtap-nad-config", NAD_TYPE, nad(config=UNKNOWN_STRING_VALUE)),
    ("macvtap-interfaces-per-vm", VMI_TYPE, vmi(macvtap=[macvtap_iface("a")] * 3) | {"spec": UNKNOWN_STRING_VALUE}),
    ("macvtap-no-legacy-binding", VMI_TYPE, vmi() | {"spec": {"domain": {"devices": {"interfaces": UNKNOWN_ARRAY_VALUE}}}}),
    ("vm-resource-limits", VMI_TYPE, vmi(memory=UNKNOWN_STRING_VALUE, cores=UNKNOWN_NUMBER_VALUE)),
    ("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap(UNKNOWN_STRING_VALUE)),
]


@pytest.mark.parametrize(("policy_name", "resource_type", "props"), UNKNOWN_RESOURCES, ids=lambda x: str(x)[:30])
def test_resource_policies_skip_unknown_values(policy_name: str, resource_type: str, props: dict[str, Any]) -> None:
    assert check_resource(policy_name, resource_type, props) == []


def test_stack_policies_skip_unknown_values() -> None:
    unknown_vm = vmi(name="vm9")
    unknown_vm["spec"]["domain"]["devices"]["interfaces"] = UNKNOWN_ARRAY_VALUE
    resources = stack([vmi(), unknown_vm], [nad(resource=UNKNOWN_STRING_VALUE)], devices=[device(capacity=1)])
    resources.append(resource(guardrails.REMOTE_COMMAND_TYPE, "c", {"connection": UNKNOWN_STRING_VALUE}))
    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            assert check_stack(policy.name, resources) == [], policy.name


# --- the pack -------------------------------------------------------------------------------


def test_pack_has_the_agreed_policy_names_and_levels() -> None:
    levels = {policy.name: policy.enforcement_level for policy in POLICIES}
    advisory = {"vm-waits-for-platform", "ssh-host-key-pinned"}
    assert set(levels) == {
        "macvtap-nad-resource-annotation",
        "macvtap-nad-config",
        "macvtap-interfaces-per-vm",
        "macvtap-no-legacy-binding",
        "vm-resource-limits",
        "macvtap-device-plugin-config",
        "macvtap-capacity",
        "macvtap-resource-known",
        "macvtap-unique-macs",
        *advisory,
    }
    for name, level in levels.items():
        assert level == (EnforcementLevel.ADVISORY if name in advisory else EnforcementLevel.MANDATORY), name


def test_every_knob_has_a_type_a_description_and_a_default() -> None:
    for policy in POLICIES:
        assert policy.description
        for knob, spec in (policy.config_schema.properties if policy.config_schema else {}).items():
            assert {"type", "description", "default"} <= set(spec), f"{policy.name}.{knob}"
