"""Claims about the real stack files and the program as a whole.

- Pulumi.dev.yaml and Pulumi.lab.yaml load and produce exactly the expected resource set.
- Running the program twice on the same config registers identical inputs, parents and
  dependencies (no random names, timestamps or unordered output).
- The SSH private key never appears outside secret-wrapped inputs, nor in the outputs.
- Every component has the kvm-in-a-pod:index:<Name> type token.
"""

from __future__ import annotations

import json
from collections import Counter

from offline.engine import Recording, is_secret, record_stack
from tests.conftest import FAKE_SSH_KEY, RecordLab

KEY_MARKER = "kvm-in-a-pod-test-key"


def resource_set(recording: Recording) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in recording.resources}


def test_dev_stack_registers_the_demo(dev: Recording) -> None:
    assert resource_set(dev) == {
        ("kvm-in-a-pod:index:KubeVirt", "kubevirt"),
        ("kubernetes:yaml/v2:ConfigFile", "kubevirt-operator"),
        ("kubernetes:kubevirt.io/v1:KubeVirt", "kubevirt-cr"),
        ("kvm-in-a-pod:index:Multus", "multus"),
        ("kubernetes:yaml/v2:ConfigFile", "multus-manifest"),
        ("kvm-in-a-pod:index:MacvtapDevicePlugin", "macvtap"),
        ("kubernetes:core/v1:Namespace", "macvtap-namespace"),
        ("kubernetes:core/v1:ServiceAccount", "macvtap-service-account"),
        ("kubernetes:core/v1:ConfigMap", "macvtap-config"),
        ("kubernetes:apps/v1:DaemonSet", "macvtap-daemonset"),
        ("kvm-in-a-pod:index:MacvtapNetworks", "macvtap-networks"),
        ("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition", "macvtap-networks-dataplane"),
        ("kvm-in-a-pod:index:MacvtapVM", "vm1"),
        ("kubernetes:kubevirt.io/v1:VirtualMachineInstance", "vm1-vmi"),
        ("kvm-in-a-pod:index:MacvtapVM", "vm2"),
        ("kubernetes:kubevirt.io/v1:VirtualMachineInstance", "vm2-vmi"),
        ("pulumi:providers:kubernetes", "vmi-client-side-apply"),
    }


def test_lab_stack_adds_node_installs_two_networks_and_a_virtual_machine(lab: Recording) -> None:
    counts = Counter(r.type for r in lab.resources)
    assert counts["command:remote:CopyToRemote"] == 2
    assert counts["command:remote:Command"] == 2
    assert counts["kvm-in-a-pod:index:NodeCniInstall"] == 1
    # Four attachments, three NADs: both VMs' storage NICs (mtu 9000) share one.
    assert counts["kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"] == 3
    assert counts["kubernetes:kubevirt.io/v1:VirtualMachine"] == 1
    assert counts["kubernetes:kubevirt.io/v1:VirtualMachineInstance"] == 1
    # 7 components, 2 KubeVirt, 1 Multus, 4 plugin, 4 node, 3 NADs, 1 VM, 1 VMI and the VMIs' provider
    assert len(lab.resources) == 24


def comparable(recording: Recording) -> list[tuple[str, str, str, tuple[str, ...], str]]:
    return sorted(
        (r.urn, r.type, r.parent, tuple(sorted(r.dependencies)), json.dumps(r.inputs, sort_keys=True)) for r in recording.resources
    )


def test_two_runs_register_identical_inputs(dev: Recording, lab: Recording, record_lab: RecordLab) -> None:
    assert comparable(record_stack("dev")) == comparable(dev)
    assert comparable(record_lab()) == comparable(lab)


def test_two_runs_export_identical_outputs(lab: Recording, record_lab: RecordLab) -> None:
    assert json.dumps(record_lab().outputs, sort_keys=True) == json.dumps(lab.outputs, sort_keys=True)


def _leaks(value: object, path: str) -> list[str]:
    """Paths where the key appears outside a secret wrapper."""
    if is_secret(value):
        return []
    if isinstance(value, dict):
        return [leak for key, item in value.items() for leak in _leaks(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [leak for index, item in enumerate(value) for leak in _leaks(item, f"{path}[{index}]")]
    return [path] if isinstance(value, str) and KEY_MARKER in value else []


def test_ssh_key_appears_only_inside_secrets(lab: Recording) -> None:
    wrapped = [r.name for r in lab.resources if KEY_MARKER in json.dumps(r.inputs)]
    assert sorted(wrapped) == [
        "macvtap-cni-node01-copy",
        "macvtap-cni-node01-install",
        "macvtap-cni-node02-copy",
        "macvtap-cni-node02-install",
    ]
    for resource in lab.resources:
        assert _leaks(dict(resource.inputs), resource.name) == []
    assert KEY_MARKER not in json.dumps(lab.outputs)


def test_ssh_key_is_not_in_any_command_string(lab: Recording) -> None:
    for resource in lab.of_type("command:remote:Command"):
        assert FAKE_SSH_KEY not in resource.inputs["create"] + resource.inputs["delete"]


def test_components_have_namespaced_type_tokens(lab: Recording) -> None:
    components = sorted(r.type for r in lab.resources if not r.custom and not r.type.startswith("kubernetes:yaml"))
    assert components == [
        "kvm-in-a-pod:index:KubeVirt",
        "kvm-in-a-pod:index:MacvtapDevicePlugin",
        "kvm-in-a-pod:index:MacvtapNetworks",
        "kvm-in-a-pod:index:MacvtapVM",
        "kvm-in-a-pod:index:MacvtapVM",
        "kvm-in-a-pod:index:Multus",
        "kvm-in-a-pod:index:NodeCniInstall",
    ]
