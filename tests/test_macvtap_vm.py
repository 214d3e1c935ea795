"""Claims about MacvtapVM (domain.md, "KubeVirt" and "macvtap-cni").

- One NAD per macvtap interface, annotated with the network's device-plugin resource, CNI
  config {cniVersion, name, type: macvtap} plus mtu/promiscMode only when set, no deviceID.
- The VMI is kubevirt.io/v1 with a masquerade pod NIC and `binding: {name: macvtap}` NICs
  (never the discontinued `macvtap: {}`), each network pointing at its own NAD.
- Every NIC has a MAC: the given one, or one derived from stack, VM and interface that is
  locally administered, unicast, and stable across runs but differs between stacks.
- cloud-init carries the authorized keys and DHCP on the macvtap NICs; userData overrides.
- Memory and CPU requests, container disk, rng; awaited until Ready.
- Outputs: VMI name, namespace, MACs and the virtctl console command.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from components.config import VM
from components.macvtap_vm import derive_mac, vmi_manifest
from offline.engine import Recording, record_stack
from tests.recorded import NAD, VMI, inputs


def vm(**fields: Any) -> VM:
    return VM.model_validate({"name": "vm1", "macvtap": [{"network": "dataplane"}], **fields})


def test_one_nad_per_macvtap_interface(lab: Recording) -> None:
    assert sorted(r.name for r in lab.of_type(NAD)) == [
        "db1-macvtap0-nad",
        "db1-macvtap1-nad",
        "web1-macvtap0-nad",
        "web1-macvtap1-nad",
    ]


def test_nad_requests_the_networks_device_plugin_resource(lab: Recording) -> None:
    nad = inputs(lab, "web1-macvtap1-nad")
    assert nad["apiVersion"] == "k8s.cni.cncf.io/v1" and nad["kind"] == "NetworkAttachmentDefinition"
    assert nad["metadata"]["name"] == "web1-storage"
    assert nad["metadata"]["annotations"] == {"k8s.v1.cni.cncf.io/resourceName": "macvtap.network.kubevirt.io/storage"}


def test_cni_config_has_only_what_is_set(lab: Recording) -> None:
    assert json.loads(inputs(lab, "web1-macvtap1-nad")["spec"]["config"]) == {
        "cniVersion": "0.3.1",
        "name": "web1-storage",
        "type": "macvtap",
        "mtu": 9000,
    }
    assert json.loads(inputs(lab, "db1-macvtap0-nad")["spec"]["config"]) == {
        "cniVersion": "0.3.1",
        "name": "db1-lan",
        "type": "macvtap",
        "promiscMode": True,
    }


def test_same_network_twice_gets_two_nads() -> None:
    manifest = vmi_manifest("dev", vm(macvtap=[{"network": "dataplane"}, {"network": "dataplane"}]), "default")
    assert [n["multus"]["networkName"] for n in manifest["spec"]["networks"][1:]] == ["vm1-dataplane", "vm1-dataplane-1"]


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
        {"name": "macvtap0", "multus": {"networkName": "vm1-dataplane"}},
    ]


def test_given_mac_is_used(lab: Recording) -> None:
    interfaces = inputs(lab, "web1-vmi")["spec"]["domain"]["devices"]["interfaces"]
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
    vmi = inputs(lab, "web1-vmi")
    [cloud_init] = [v["cloudInitNoCloud"] for v in vmi["spec"]["volumes"] if "cloudInitNoCloud" in v]
    assert cloud_init["userData"].startswith("#cloud-config\n")
    assert yaml.safe_load(cloud_init["userData"])["ssh_authorized_keys"][0].endswith(" ops@lab")
    network = yaml.safe_load(cloud_init["networkData"])
    macs = {i["name"]: i["macAddress"] for i in vmi["spec"]["domain"]["devices"]["interfaces"]}
    assert network["version"] == 2
    for name, mac in macs.items():
        assert network["ethernets"][name] == {"match": {"macaddress": mac}, "dhcp4": True}


def test_user_data_override_is_used_verbatim() -> None:
    user_data = "#cloud-config\npassword: fedora\nchpasswd: {expire: false}\n"
    manifest = vmi_manifest("dev", vm(userData=user_data), "default")
    [cloud_init] = [v["cloudInitNoCloud"] for v in manifest["spec"]["volumes"] if "cloudInitNoCloud" in v]
    assert cloud_init["userData"] == user_data


def test_resources_disk_and_rng(lab: Recording) -> None:
    spec = inputs(lab, "db1-vmi")["spec"]
    assert spec["domain"]["resources"]["requests"]["memory"] == "4Gi"
    assert spec["domain"]["cpu"]["cores"] == 2
    assert spec["domain"]["devices"]["rng"] == {}
    assert {"name": "containerdisk", "containerDisk": {"image": "quay.io/containerdisks/fedora:latest"}} in spec["volumes"]


def test_vmi_is_awaited_until_ready(dev: Recording) -> None:
    annotations = inputs(dev, "vm1-vmi")["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Ready"
    assert int(annotations["pulumi.com/timeoutSeconds"]) > 0


def test_vms_live_in_the_vm_namespace() -> None:
    recording = record_stack("dev", config_overrides={"kvm-in-a-pod:vmNamespace": "lab-vms"})
    assert inputs(recording, "vm1-vmi")["metadata"]["namespace"] == "lab-vms"
    assert inputs(recording, "vm1-macvtap0-nad")["metadata"]["namespace"] == "lab-vms"
    assert recording.outputs["vms"]["vm1"]["console"] == "virtctl console -n lab-vms vm1"


def test_outputs_name_namespace_and_console(dev: Recording) -> None:
    assert set(dev.outputs["vms"]) == {"vm1", "vm2"}
    assert dev.outputs["vms"]["vm2"]["namespace"] == "default"
    assert dev.outputs["vms"]["vm2"]["console"] == "virtctl console -n default vm2"


def test_vmi_type_token(dev: Recording) -> None:
    assert dev.named("vm1-vmi").type == VMI
    assert dev.named("vm1").type == "kvm-in-a-pod:index:MacvtapVM"
