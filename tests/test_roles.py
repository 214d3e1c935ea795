"""Claims a user checks about splitting the platform and the VMs into separate stacks (`kvm-in-a-pod:role`).

- `role: all` (the default) is today's single stack: platform and VMs, and it exports `macvtapPlatform` too.
- `role: platform` registers KubeVirt, Multus, the device plugin and the node installs, no VM, and exports
  `macvtapPlatform` exactly as contracts.md fixes it (resource names, capacity per node, lower device, mode,
  node count in ssh mode, null in daemonset mode).
- `role: vms` registers one StackReference to the stack named in `kvm-in-a-pod:platformStack` and, after it, only
  MacvtapVMs and their NADs: no KubeVirt, Multus, device plugin or node install.
- In a vms stack the NADs' resourceName annotations are the platform export's resource names, and every VM object
  depends on the StackReference.
- A vms stack's networks are checked against the platform's export: an unknown network is refused with its key path
  and the networks the platform offers, and nothing is registered beyond the reference.
- A referenced stack without a usable `macvtapPlatform` export, or a stack that does not exist, is refused naming
  `kvm-in-a-pod:platformStack`, and nothing is registered beyond the reference.
- Role rules are config errors with key paths, before anything is registered: a missing or malformed platformStack,
  platform keys in a vms stack, a vms stack without VMs, a platform stack listing VMs, platformStack outside vms.
- Every committed vms stack names a committed platform stack; the same config registers identical inputs twice.
  (The offline plan of a vms stack: tests/test_plan_vms_stack.py.)
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.config import ConfigError, StackConfig, VmStackConfig, parse_stack_config
from components.platform_export import PlatformExport, read_platform_export
from offline.engine import PROJECT_ROOT, STACK_REFERENCE, Recording, UnknownStackError, record_stack
from offline.platform_stack import local_stack_name
from tests.conftest import FAKE_SSH_KEY, SSH_KEY_CONFIG, stack_value
from tests.recorded import NAD, VMI, inputs
from tests.shipped import SHIPPED_STACKS

PLATFORM_KINDS = {
    "kvm-in-a-pod:index:KubeVirt",
    "kvm-in-a-pod:index:Multus",
    "kvm-in-a-pod:index:MacvtapDevicePlugin",
    "kvm-in-a-pod:index:NodeCniInstall",
    "kubernetes:kubevirt.io/v1:KubeVirt",
    "kubernetes:yaml/v2:ConfigFile",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:apps/v1:DaemonSet",
    "command:remote:CopyToRemote",
    "command:remote:Command",
}
VM_SIDE_KINDS = {"kvm-in-a-pod:index:MacvtapVM", "kvm-in-a-pod:index:MacvtapNetworks", NAD, VMI, "pulumi:providers:kubernetes"}
DP_RESOURCE = "k8s.v1.cni.cncf.io/resourceName"
DEV_MACVTAP = {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0"}]}


def vm(name: str = "vm1", *networks: str) -> dict[str, Any]:
    return {"name": name, "macvtap": [{"network": network} for network in networks or ("lan",)]}


def vms_values(**values: Any) -> dict[str, Any]:
    return {"role": "vms", "platformStack": "platform", "vms": [vm()], **values}


def problems_of(values: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(values)
    return dict(refused.value.problems)


# --- config: role rules, each at its key path --------------------------------------------


def test_an_unknown_role_is_refused_with_the_allowed_roles() -> None:
    assert problems_of({"role": "cluster", "macvtap": DEV_MACVTAP}) == {
        "kvm-in-a-pod:role": "'cluster' is not allowed; allowed: all, platform, vms (default all)"
    }


def test_a_vms_stack_needs_platform_stack() -> None:
    values = vms_values()
    del values["platformStack"]
    assert "is required when role is vms" in problems_of(values)["kvm-in-a-pod:platformStack"]


@pytest.mark.parametrize("key", ["kubevirt", "multus", "macvtap", "nodes", "sshPrivateKey"])
def test_a_vms_stack_refuses_each_platform_key(key: str) -> None:
    message = problems_of(vms_values(**{key: {}}))[f"kvm-in-a-pod:{key}"]
    assert message.startswith("is a platform setting, not allowed when role is vms")


def test_a_vms_stack_needs_a_vm() -> None:
    assert problems_of(vms_values(vms=[])) == {"kvm-in-a-pod:vms": "a stack with role vms needs at least one VM"}


def test_a_platform_stack_refuses_vms() -> None:
    message = problems_of({"role": "platform", "macvtap": DEV_MACVTAP, "vms": [vm("vm1", "dataplane")]})["kvm-in-a-pod:vms"]
    assert message.startswith("a stack with role platform holds no VMs")


@pytest.mark.parametrize("role", ["all", "platform"])
def test_platform_stack_is_refused_outside_a_vms_stack(role: str) -> None:
    message = problems_of({"role": role, "macvtap": DEV_MACVTAP, "platformStack": "platform"})["kvm-in-a-pod:platformStack"]
    assert message == f"is only allowed when role is vms (this stack's role is {role}: it runs its own platform)"


@pytest.mark.parametrize("name", ["", "a/b/c/d", "team a", "org//stack"])
def test_a_malformed_platform_stack_name_is_refused(name: str) -> None:
    assert "is not a stack name" in problems_of(vms_values(platformStack=name))["kvm-in-a-pod:platformStack"]


@pytest.mark.parametrize("name", ["platform", "acme/platform", "organization/kvm-in-a-pod/platform"])
def test_platform_stack_takes_the_three_stack_name_forms(name: str) -> None:
    config = parse_stack_config(vms_values(platformStack=name))
    assert isinstance(config, VmStackConfig)
    assert config.platform_stack == name


def test_a_vms_stack_keeps_the_vm_rules() -> None:
    mac = {"network": "lan", "mac": "02:00:00:00:00:01"}
    values = vms_values(vms=[{"name": "a", "macvtap": [mac]}, {"name": "b", "macvtap": [mac]}])
    assert problems_of(values) == {
        "kvm-in-a-pod:vms[1].macvtap[0].mac": "02:00:00:00:00:01 is already used by kvm-in-a-pod:vms[0].macvtap[0].mac;"
        " MAC addresses must be unique"
    }


def test_all_role_problems_are_reported_together() -> None:
    values = vms_values(vms=[], multus={"install": False})
    del values["platformStack"]
    assert sorted(problems_of(values)) == ["kvm-in-a-pod:multus", "kvm-in-a-pod:platformStack", "kvm-in-a-pod:vms"]


def test_a_platform_stack_parses_to_the_platform_config() -> None:
    config = parse_stack_config({"role": "platform", "macvtap": DEV_MACVTAP})
    assert isinstance(config, StackConfig)
    assert (config.role, config.vms) == ("platform", [])


# --- the macvtapPlatform export, read back ------------------------------------------------


def export_value(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "cniInstall": "ssh",
        "kubevirtVersion": "v1.9.0",
        "networks": {
            "lan": {"capacityPerNode": 20.0, "lowerDevice": "eno2", "mode": "bridge", "resourceName": "macvtap.network.kubevirt.io/lan"}
        },
        "nodeCount": 2.0,
    }
    value.update(changes)
    return value


def test_an_export_read_back_is_typed_with_whole_numbers() -> None:
    platform = read_platform_export(export_value(), "platform")
    assert isinstance(platform, PlatformExport)
    assert (platform.node_count, platform.networks["lan"].capacity_per_node) == (2, 20)
    assert platform.resource_names == {"lan": "macvtap.network.kubevirt.io/lan"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "stack 'platform' exports no macvtapPlatform"),
        ("v1.9.0", "is a str, not an object"),
        (export_value(networks={}), "networks: expected an object with at least one network"),
        (export_value(networks={"lan": {"capacityPerNode": 20}}), "networks.lan: resourceName"),
        (export_value(nodeCount=1.5), "nodeCount: expected a positive whole number or null"),
        (export_value(cniInstall="helm"), "cniInstall: expected 'ssh' or 'daemonset'"),
    ],
)
def test_an_unusable_export_is_refused_at_platform_stack(value: Any, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        read_platform_export(value, "platform")
    ((path, message),) = refused.value.problems
    assert path == "kvm-in-a-pod:platformStack"
    assert words in message


# --- recordings: what each role registers -------------------------------------------------


def kinds(recording: Recording) -> set[str]:
    return {r.type for r in recording.resources}


@pytest.fixture(scope="module")
def platform_macvtap(fake_cni_binary: Path) -> dict[str, Any]:
    macvtap: dict[str, Any] = stack_value("platform", "macvtap")
    macvtap["cniBinaryPath"] = str(fake_cni_binary)
    return macvtap


@pytest.fixture(scope="module")
def platform(platform_macvtap: dict[str, Any]) -> Recording:
    return record_stack(
        "platform", config_overrides={"kvm-in-a-pod:macvtap": platform_macvtap}, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY}
    )


def record_team(stack: str, outputs: dict[str, Any] | None, into: Recording | None = None, **overrides: Any) -> Recording:
    reference = str(stack_value(stack, "platformStack"))
    stack_outputs = {reference: outputs} if outputs is not None else {}
    config = {f"kvm-in-a-pod:{key}": value for key, value in overrides.items()}
    return record_stack(stack, config_overrides=config, stack_outputs=stack_outputs, into=into)


@pytest.fixture(scope="module")
def team_a(platform: Recording) -> Recording:
    return record_team("team-a", platform.outputs)


def test_all_role_holds_platform_and_vms_and_exports_the_platform(dev: Recording) -> None:
    ssh_only = {"kvm-in-a-pod:index:NodeCniInstall", "command:remote:CopyToRemote", "command:remote:Command"}
    assert kinds(dev) == (PLATFORM_KINDS - ssh_only) | VM_SIDE_KINDS
    # nodeCount is null in daemonset mode; the SDK reads a null in an object as an absent key.
    assert dev.outputs["macvtapPlatform"] == {
        "cniInstall": "daemonset",
        "kubevirtVersion": "v1.9.0",
        "networks": {
            "dataplane": {
                "capacityPerNode": 50,
                "lowerDevice": "eth0",
                "mode": "bridge",
                "resourceName": "macvtap.network.kubevirt.io/dataplane",
            }
        },
    }
    assert read_platform_export(dev.outputs["macvtapPlatform"], "dev").node_count is None


def test_platform_role_registers_the_platform_and_no_vm(platform: Recording) -> None:
    assert kinds(platform) == PLATFORM_KINDS
    assert "vms" not in platform.outputs


def test_platform_export_gives_networks_capacities_and_node_count(platform: Recording) -> None:
    assert platform.outputs["macvtapPlatform"] == {
        "cniInstall": "ssh",
        "kubevirtVersion": "v1.9.0",
        "networks": {
            "lan": {"capacityPerNode": 20, "lowerDevice": "eno2", "mode": "bridge", "resourceName": "macvtap.network.kubevirt.io/lan"},
            "storage": {
                "capacityPerNode": 10,
                "lowerDevice": "eno3",
                "mode": "vepa",
                "mtu": 9000,
                "resourceName": "macvtap.network.kubevirt.io/storage",
            },
        },
        "nodeCount": 2,
    }


def test_platform_export_agrees_with_the_device_plugin_it_deploys(platform: Recording) -> None:
    advertised = json.loads(inputs(platform, "macvtap-config")["data"]["DP_MACVTAP_CONF"])
    exported = platform.outputs["macvtapPlatform"]["networks"]
    assert {d["name"]: (d["capacity"], d["lowerDevice"], d["mode"]) for d in advertised} == {
        name: (n["capacityPerNode"], n["lowerDevice"], n["mode"]) for name, n in exported.items()
    }
    assert platform.outputs["macvtapResourceNames"] == {name: n["resourceName"] for name, n in exported.items()}


def test_vms_role_registers_one_reference_and_only_the_vm_side(team_a: Recording) -> None:
    counts = Counter(r.type for r in team_a.resources)
    # web1 and web2 share the one `lan` NAD.
    assert counts == {
        STACK_REFERENCE: 1,
        "kubernetes:core/v1:Namespace": 1,  # team-a's own vmNamespace
        "kvm-in-a-pod:index:MacvtapNetworks": 1,
        "kvm-in-a-pod:index:MacvtapVM": 2,
        NAD: 1,
        VMI: 2,
        "pulumi:providers:kubernetes": 1,  # the VMIs' (components/vmi_provider.py)
    }


def test_vms_reference_reads_the_stack_named_in_platform_stack(team_a: Recording) -> None:
    (reference,) = team_a.of_type(STACK_REFERENCE)
    assert reference.inputs["name"] == "platform"
    assert "macvtapPlatform" in reference.inputs["outputs"]


def test_vms_nad_resource_names_come_from_the_platform_export() -> None:
    # A platform whose device plugin advertises a resource name this program would not derive.
    outputs = {
        "macvtapPlatform": export_value(networks={"lan": {**export_value()["networks"]["lan"], "resourceName": "example.com/lan-taps"}})
    }
    recording = record_team("team-a", outputs)
    assert {inputs(recording, r.name)["metadata"]["annotations"][DP_RESOURCE] for r in recording.of_type(NAD)} == {"example.com/lan-taps"}


def test_every_vm_object_and_nad_depends_on_the_reference(team_a: Recording) -> None:
    (reference,) = team_a.of_type(STACK_REFERENCE)
    dependents = [r for r in team_a.resources if r.type in (NAD, VMI)]
    assert len(dependents) == 3  # one shared NAD, two VMIs
    assert all(reference.urn in r.dependencies for r in dependents)


def test_a_vms_stack_registers_its_vms_in_preview_too(platform: Recording, team_a: Recording) -> None:
    # The VMs are registered inside an apply on the reference's output: a preview must run it as an
    # update does (the real engine reads a StackReference's outputs in preview as well).
    preview = record_stack("team-a", stack_outputs={"platform": platform.outputs}, preview=True)
    assert comparable(preview) == comparable(team_a)


def test_vms_stack_outputs_its_vms_in_its_namespace(team_a: Recording) -> None:
    assert sorted(team_a.outputs["vms"]) == ["web1", "web2"]
    assert team_a.outputs["vms"]["web1"]["console"] == "virtctl console -n team-a web1"


def test_vms_stack_puts_several_networks_of_one_platform_on_one_vm(platform: Recording) -> None:
    recording = record_team("team-b", platform.outputs)
    annotations = sorted(inputs(recording, r.name)["metadata"]["annotations"][DP_RESOURCE] for r in recording.of_type(NAD))
    assert annotations == ["macvtap.network.kubevirt.io/lan", "macvtap.network.kubevirt.io/storage"]


# --- bad references: refused, nothing registered beyond the reference ---------------------


def refused(stack: str, outputs: dict[str, Any] | None, **overrides: Any) -> tuple[str, Recording]:
    partial = Recording(stack=stack)
    with pytest.raises(pulumi.RunError) as error:
        record_team(stack, outputs, into=partial, **overrides)
    return str(error.value), partial


def test_an_unknown_network_is_refused_with_its_key_path_and_the_platform_networks(platform: Recording) -> None:
    message, partial = refused("team-a", platform.outputs, vms=[vm("web1", "lan"), vm("web2", "lan", "dmz")])
    assert (
        "kvm-in-a-pod:vms[1].macvtap[1].network: 'dmz' is not a macvtap network; allowed: lan, storage"
        " (the networks stack 'platform' exports)"
    ) in message
    assert [r.type for r in partial.resources] == [STACK_REFERENCE]


def test_a_nic_mtu_above_what_its_platform_network_carries_is_refused_with_its_key_path(platform: Recording) -> None:
    jumbo = {"name": "db1", "macvtap": [{"network": "lan"}, {"network": "storage", "mtu": 9216}]}
    message, partial = refused("team-b", platform.outputs, vms=[jumbo])
    assert (
        "kvm-in-a-pod:vms[0].macvtap[1].mtu: 9216 is above the MTU of network 'storage'"
        " (9000, the networks stack 'organization/kvm-in-a-pod/platform' exports)"
    ) in message
    assert [r.type for r in partial.resources] == [STACK_REFERENCE]


def test_an_export_without_network_mtus_reads_back_as_unknown() -> None:
    assert read_platform_export(export_value(), "platform").network_mtus == {"lan": None}
    assert read_platform_export(export_value(networks={"lan": {**export_value()["networks"]["lan"], "mtu": 1500.0}}), "p").network_mtus == {
        "lan": 1500
    }


def test_a_stack_without_the_platform_export_is_refused_at_platform_stack(platform: Recording) -> None:
    outputs = {key: value for key, value in platform.outputs.items() if key != "macvtapPlatform"}
    message, partial = refused("team-a", outputs)
    assert "kvm-in-a-pod:platformStack: stack 'platform' exports no macvtapPlatform" in message
    assert [r.type for r in partial.resources] == [STACK_REFERENCE]


def test_a_malformed_platform_export_is_refused_at_platform_stack() -> None:
    message, partial = refused("team-a", {"macvtapPlatform": export_value(networks=[])})
    assert "kvm-in-a-pod:platformStack: stack 'platform' exports a malformed macvtapPlatform: networks:" in message
    assert [r.type for r in partial.resources] == [STACK_REFERENCE]


# The failed read leaves coroutines the SDK created for the reference's outputs unawaited.
@pytest.mark.filterwarnings("ignore:coroutine 'Output:RuntimeWarning")
def test_a_stack_that_does_not_exist_fails_the_reference_and_registers_nothing() -> None:
    partial = Recording(stack="team-a")
    with pytest.raises(UnknownStackError, match='unknown stack "platform"'):
        record_team("team-a", None, into=partial)
    assert partial.resources == []


def test_a_vms_stack_config_error_registers_nothing() -> None:
    partial = Recording(stack="team-a")
    with pytest.raises(pulumi.RunError, match="kvm-in-a-pod:platformStack: is required when role is vms"):
        record_stack("team-a", config_overrides={"kvm-in-a-pod:platformStack": None}, into=partial)
    assert partial.resources == []


# --- the committed stacks ----------------------------------------------------------------


def stack_configs() -> dict[str, dict[str, Any]]:
    """The shipped stacks' configs (tests/shipped.py names them: a user's own stacks are not ours to check)."""
    return {
        stack: (yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {} for stack in SHIPPED_STACKS
    }


def test_every_committed_vms_stack_names_a_committed_platform_stack() -> None:
    configs = stack_configs()
    vms_stacks = {name: config for name, config in configs.items() if config.get("kvm-in-a-pod:role") == "vms"}
    assert sorted(vms_stacks) == ["team-a", "team-b"]
    for config in vms_stacks.values():
        platform = local_stack_name(config["kvm-in-a-pod:platformStack"])
        assert platform in configs
        assert configs[platform].get("kvm-in-a-pod:role", "all") in ("platform", "all")


def test_dev_and_lab_stay_single_stacks() -> None:
    configs = stack_configs()
    assert [configs[name].get("kvm-in-a-pod:role", "all") for name in ("dev", "lab")] == ["all", "all"]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("platform", "platform"), ("acme/platform", "platform"), ("acme/kvm-in-a-pod/platform", "platform"), ("acme/infra/platform", None)],
)
def test_a_reference_resolves_to_this_projects_stack_only(reference: str, expected: str | None) -> None:
    assert local_stack_name(reference) == expected


def comparable(recording: Recording) -> list[tuple[str, str, str, tuple[str, ...], str]]:
    return sorted(
        (r.urn, r.type, r.parent, tuple(sorted(r.dependencies)), json.dumps(r.inputs, sort_keys=True)) for r in recording.resources
    )


def test_a_vms_stack_registers_identical_inputs_twice(platform: Recording, team_a: Recording) -> None:
    again = record_team("team-a", copy.deepcopy(platform.outputs))
    assert comparable(again) == comparable(team_a)
    assert json.dumps(again.outputs, sort_keys=True) == json.dumps(team_a.outputs, sort_keys=True)


def test_a_platform_stack_exports_identical_outputs_twice(platform: Recording, platform_macvtap: dict[str, Any]) -> None:
    again = record_stack(
        "platform", config_overrides={"kvm-in-a-pod:macvtap": platform_macvtap}, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY}
    )
    assert comparable(again) == comparable(platform)
    assert json.dumps(again.outputs, sort_keys=True) == json.dumps(platform.outputs, sort_keys=True)
