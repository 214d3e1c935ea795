"""Claims about MacvtapVM, for both kinds (domain.md, "KubeVirt" and "macvtap-cni"; issue 11).

- A VMI (the default kind) is kubevirt.io/v1 with a masquerade pod NIC and `binding: {name:
  macvtap}` NICs (never the discontinued `macvtap: {}`), each network pointing at its NAD.
- A VirtualMachine (lab's web1) carries exactly the VMI spec as `spec.template.spec`, with
  `spec.runStrategy` (Always by default) and the same labels on the template.
- Every NIC has a MAC: the given one, or one derived from stack, VM and interface that is
  locally administered, unicast, and stable across runs but differs between stacks; a VM
  keeps its MACs whatever its kind.
- cloud-init carries the authorized keys and DHCP on the macvtap NICs; userData overrides.
- Memory and CPU requests, container disk, rng.
- Both kinds set `evictionStrategy: None`: a macvtap VM cannot live-migrate, and under a
  cluster-wide LiveMigrate strategy its eviction would be denied and `kubectl drain` would hang.
- Waiting: a VMI, and a VirtualMachine that KubeVirt starts (Always, RerunOnFailure), are
  awaited until Ready; a Halted or Manual VirtualMachine is not awaited.
- Both carry the digest of their NADs' configs (VMI: metadata; VirtualMachine: template
  metadata), so a NAD change reaches exactly the VMs using it.
- Outputs per VM: kind, namespace, MACs, NADs, the virtctl console command; for a
  VirtualMachine also its run strategy and the start/stop/restart commands KubeVirt's run
  strategy table allows; and what a change does (VMI: replaced; VirtualMachine: applied at
  the next restart).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.config import VM
from components.macvtap_networks import nad_configs_digest
from components.macvtap_vm import NAD_DIGEST_ANNOTATION, derive_mac, virtual_machine_manifest, vmi_manifest, vmi_spec
from offline.engine import Recording, record_stack
from tests.conftest import stack_value
from tests.recorded import inputs

VM_TYPE = "kubernetes:kubevirt.io/v1:VirtualMachine"
VMI_TYPE = "kubernetes:kubevirt.io/v1:VirtualMachineInstance"


def vm(**fields: Any) -> VM:
    return VM.model_validate({"name": "vm1", "macvtap": [{"network": "dataplane"}], **fields})


def dev_with(**fields: Any) -> Recording:
    """dev with vm1 changed by ``fields`` (vm2 as in the stack file)."""
    vms = stack_value("dev", "vms")
    vms[0].update(fields)
    return record_stack("dev", config_overrides={"kvm-in-a-pod:vms": vms})


def test_vmi_uses_the_binding_plugin_not_the_legacy_binding(dev: Recording) -> None:
    vmi = inputs(dev, "vm1-vmi")
    assert vmi["apiVersion"] == "kubevirt.io/v1" and vmi["kind"] == "VirtualMachineInstance"
    interfaces = vmi["spec"]["domain"]["devices"]["interfaces"]
    assert [(i["name"], "masquerade" in i, i.get("binding")) for i in interfaces] == [
        ("default", True, None),
        ("macvtap0", False, {"name": "macvtap"}),
    ]
    assert all("macvtap" not in i for i in interfaces)
    assert vmi["spec"]["networks"] == [
        {"name": "default", "pod": {}},
        {"name": "macvtap0", "multus": {"networkName": "dataplane"}},
    ]


def test_virtual_machine_wraps_exactly_the_vmi_spec(lab: Recording) -> None:
    machine = inputs(lab, "web1-vm")
    assert lab.named("web1-vm").type == VM_TYPE
    assert machine["apiVersion"] == "kubevirt.io/v1" and machine["kind"] == "VirtualMachine"
    assert set(machine["spec"]) == {"runStrategy", "template"}
    assert machine["spec"]["runStrategy"] == "Always"
    config = VM.model_validate(stack_value("lab", "vms")[0])
    assert machine["spec"]["template"]["spec"] == vmi_spec("lab", config)
    assert machine["spec"]["template"]["metadata"]["labels"] == machine["metadata"]["labels"]


def test_the_kind_does_not_change_the_vm_spec_or_its_macs(dev: Recording) -> None:
    as_vm = dev_with(kind="VirtualMachine")
    assert inputs(as_vm, "vm1-vm")["spec"]["template"]["spec"] == inputs(dev, "vm1-vmi")["spec"]
    assert as_vm.outputs["vms"]["vm1"]["macs"] == dev.outputs["vms"]["vm1"]["macs"]


def test_same_network_twice_uses_the_shared_nad_for_both_nics() -> None:
    spec = vmi_spec("dev", vm(macvtap=[{"network": "dataplane"}, {"network": "dataplane"}]))
    assert [n["multus"]["networkName"] for n in spec["networks"][1:]] == ["dataplane", "dataplane"]
    macs = [i["macAddress"] for i in spec["domain"]["devices"]["interfaces"]]
    assert len(set(macs)) == 3


def test_given_mac_is_used(lab: Recording) -> None:
    interfaces = inputs(lab, "web1-vm")["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert interfaces[1]["macAddress"] == "02:00:5e:10:00:01"


def test_derived_mac_is_local_unicast_and_stable() -> None:
    mac = derive_mac("dev", "vm1", "macvtap0")
    first = int(mac[:2], 16)
    assert first & 0b01 == 0 and first & 0b10 == 0b10
    assert mac == derive_mac("dev", "vm1", "macvtap0")
    assert len({mac, derive_mac("lab", "vm1", "macvtap0"), derive_mac("dev", "vm2", "macvtap0"), derive_mac("dev", "vm1", "macvtap1")}) == 4


def test_every_nic_has_a_mac_and_the_outputs_list_them(dev: Recording) -> None:
    interfaces = inputs(dev, "vm1-vmi")["spec"]["domain"]["devices"]["interfaces"]
    assert all(i.get("macAddress") for i in interfaces)
    assert dev.outputs["vms"]["vm1"]["macs"] == {"macvtap0": interfaces[1]["macAddress"]}


def test_cloud_init_has_keys_and_dhcp_on_the_macvtap_nics(lab: Recording) -> None:
    spec = inputs(lab, "db1-vmi")["spec"]
    [cloud_init] = [v["cloudInitNoCloud"] for v in spec["volumes"] if "cloudInitNoCloud" in v]
    assert cloud_init["userData"].startswith("#cloud-config\n")
    assert yaml.safe_load(cloud_init["userData"])["ssh_authorized_keys"][0].endswith(" ops@lab")
    network = yaml.safe_load(cloud_init["networkData"])
    macs = {i["name"]: i["macAddress"] for i in spec["domain"]["devices"]["interfaces"]}
    assert network["version"] == 2
    for name, mac in macs.items():
        assert network["ethernets"][name] == {"match": {"macaddress": mac}, "dhcp4": True}


def test_user_data_override_is_used_verbatim() -> None:
    user_data = "#cloud-config\npassword: fedora\nchpasswd: {expire: false}\n"
    spec = vmi_spec("dev", vm(userData=user_data))
    [cloud_init] = [v["cloudInitNoCloud"] for v in spec["volumes"] if "cloudInitNoCloud" in v]
    assert cloud_init["userData"] == user_data


def test_resources_disk_and_rng(lab: Recording) -> None:
    spec = inputs(lab, "db1-vmi")["spec"]
    assert spec["domain"]["resources"]["requests"]["memory"] == "4Gi"
    assert spec["domain"]["cpu"]["cores"] == 2
    assert spec["domain"]["devices"]["rng"] == {}
    assert {"name": "containerdisk", "containerDisk": {"image": "quay.io/containerdisks/fedora:43"}} in spec["volumes"]


def test_both_kinds_can_be_evicted_by_a_drain(dev: Recording, lab: Recording) -> None:
    assert inputs(dev, "vm1-vmi")["spec"]["evictionStrategy"] == "None"
    assert inputs(lab, "web1-vm")["spec"]["template"]["spec"]["evictionStrategy"] == "None"


def test_vmi_is_awaited_until_ready(dev: Recording) -> None:
    annotations = inputs(dev, "vm1-vmi")["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Ready"
    assert int(annotations["pulumi.com/timeoutSeconds"]) > 0


@pytest.mark.parametrize("kind", ["VirtualMachineInstance", "VirtualMachine"])
def test_ready_timeout_is_the_vms_own(kind: str) -> None:
    builder = vmi_manifest if kind == "VirtualMachineInstance" else virtual_machine_manifest
    manifest = builder("dev", vm(kind=kind, readyTimeoutSeconds=45), "default", {"dataplane": "{}"})
    assert manifest["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "45"


@pytest.mark.parametrize(("run_strategy", "awaited"), [("Always", True), ("RerunOnFailure", True), ("Manual", False), ("Halted", False)])
def test_a_virtual_machine_is_awaited_only_when_kubevirt_starts_it(run_strategy: str, awaited: bool) -> None:
    manifest = virtual_machine_manifest("dev", vm(kind="VirtualMachine", runStrategy=run_strategy), "default", {"dataplane": "{}"})
    assert manifest["spec"]["runStrategy"] == run_strategy
    annotations = manifest["metadata"].get("annotations", {})
    assert ("pulumi.com/waitFor" in annotations) is awaited
    if awaited:
        assert annotations["pulumi.com/waitFor"] == "condition=Ready"


def test_both_kinds_carry_the_digest_of_their_nads_configs() -> None:
    configs = {"dataplane": '{"cniVersion":"0.3.1","name":"dataplane","type":"macvtap"}'}
    instance = vmi_manifest("dev", vm(), "default", configs)
    machine = virtual_machine_manifest("dev", vm(kind="VirtualMachine"), "default", configs)
    assert instance["metadata"]["annotations"][NAD_DIGEST_ANNOTATION] == nad_configs_digest(configs)
    assert machine["spec"]["template"]["metadata"]["annotations"] == {NAD_DIGEST_ANNOTATION: nad_configs_digest(configs)}
    assert NAD_DIGEST_ANNOTATION not in machine["metadata"].get("annotations", {})
    changed = {"dataplane": configs["dataplane"].replace("0.3.1", "1.0.0")}
    assert nad_configs_digest(changed) != nad_configs_digest(configs)


def test_vms_live_in_the_vm_namespace() -> None:
    recording = record_stack("dev", config_overrides={"kvm-in-a-pod:vmNamespace": "lab-vms"})
    assert inputs(recording, "vm1-vmi")["metadata"]["namespace"] == "lab-vms"
    assert recording.outputs["vms"]["vm1"]["console"] == "virtctl console -n lab-vms vm1"


def test_vmi_outputs_say_a_change_replaces_it(dev: Recording) -> None:
    assert dev.outputs["vms"]["vm2"] == {
        "kind": "VirtualMachineInstance",
        "namespace": "default",
        "macs": {"macvtap0": derive_mac("dev", "vm2", "macvtap0")},
        "nads": ["dataplane"],
        "console": "virtctl console -n default vm2",
        "onChange": "a spec or NAD change replaces the VMI: pulumi up deletes it, then creates it (the guest reboots)",
    }


def test_virtual_machine_outputs_give_the_virtctl_commands_and_the_restart(lab: Recording) -> None:
    web1 = lab.outputs["vms"]["web1"]
    assert (web1["kind"], web1["runStrategy"]) == ("VirtualMachine", "Always")
    assert (web1["console"], web1["stop"], web1["restart"]) == (
        "virtctl console -n default web1",
        "virtctl stop -n default web1",
        "virtctl restart -n default web1",
    )
    assert "start" not in web1  # an Always VM is started by KubeVirt (run strategy table: "-")
    assert "next restart (virtctl restart -n default web1)" in web1["onChange"] and "RestartRequired" in web1["onChange"]


@pytest.mark.parametrize(
    ("run_strategy", "commands"),
    [("RerunOnFailure", {"stop", "restart"}), ("Manual", {"start", "stop", "restart"}), ("Halted", {"start"})],
)
def test_virtctl_commands_follow_the_run_strategy(run_strategy: str, commands: set[str]) -> None:
    outputs = dev_with(kind="VirtualMachine", runStrategy=run_strategy).outputs["vms"]["vm1"]
    assert {action for action in ("start", "stop", "restart") if action in outputs} == commands
    assert outputs["runStrategy"] == run_strategy


def test_type_tokens(dev: Recording, lab: Recording) -> None:
    assert dev.named("vm1-vmi").type == VMI_TYPE
    assert lab.named("web1-vm").type == VM_TYPE
    assert dev.named("vm1").type == "kvm-in-a-pod:index:MacvtapVM"
