"""Claims about the shared NetworkAttachmentDefinitions (issue 14; contracts.md "Shared NADs").

- One NAD per (network, settings) in the VM namespace, shared by every attachment with the same
  network, mtu and promiscMode: dev's two VMs on `dataplane` share one NAD.
- Its name is the network's when no setting is given (`dataplane`), else
  `<network>-<6 hex of sha256 of the canonical settings>`; the same settings always give the
  same name, different settings different names.
- Its CNI config is {cniVersion, name = the NAD name, type: macvtap} plus mtu/promiscMode only
  when set, never a deviceID; it requests the network's device-plugin resource.
- Every VM object points each macvtap network at its NAD by name (same namespace); which
  NADs it waits for is in test_graph.
- A stack without VMs registers no NAD.
- `promiscMode: false` is the CNI's default: the same NAD, under the same name, as no setting.
"""

from __future__ import annotations

import hashlib
import json

from components.config import MacvtapAttachment, nad_name
from offline.engine import Recording, record_stack
from tests.recorded import NAD, inputs


def attachment(**fields: object) -> MacvtapAttachment:
    return MacvtapAttachment.model_validate({"network": "storage", **fields})


def test_vms_on_the_same_network_share_one_nad(dev: Recording) -> None:
    assert [r.name for r in dev.of_type(NAD)] == ["macvtap-networks-dataplane"]
    assert inputs(dev, "vm1-vmi")["spec"]["networks"][1]["multus"] == {"networkName": "dataplane"}
    assert inputs(dev, "vm2-vmi")["spec"]["networks"][1]["multus"] == {"networkName": "dataplane"}


def test_one_nad_per_network_and_settings(lab: Recording) -> None:
    # web1: lan mtu 1500, storage mtu 9000; db1: lan promiscMode, storage mtu 9000 (shared).
    assert sorted(inputs(lab, r.name)["metadata"]["name"] for r in lab.of_type(NAD)) == [
        nad_name(attachment(network="lan", mtu=1500)),
        nad_name(attachment(network="lan", promiscMode=True)),
        nad_name(attachment(mtu=9000)),
    ]


def test_nad_name_is_the_network_without_settings_else_a_settings_digest() -> None:
    assert nad_name(attachment()) == "storage"
    digest = hashlib.sha256(b'{"mtu":9000}').hexdigest()[:6]
    assert nad_name(attachment(mtu=9000)) == f"storage-{digest}"
    assert nad_name(attachment(mtu=9000, mac="02:00:00:00:00:01")) == f"storage-{digest}"  # the MAC is per NIC, not per NAD
    assert len({nad_name(attachment(mtu=9000)), nad_name(attachment(mtu=1500)), nad_name(attachment(promiscMode=True))}) == 3


def test_nad_requests_the_networks_device_plugin_resource(lab: Recording) -> None:
    name = "macvtap-networks-" + nad_name(attachment(mtu=9000))
    nad = inputs(lab, name)
    assert nad["apiVersion"] == "k8s.cni.cncf.io/v1" and nad["kind"] == "NetworkAttachmentDefinition"
    assert nad["metadata"]["namespace"] == "default"
    assert nad["metadata"]["annotations"] == {
        "k8s.v1.cni.cncf.io/resourceName": "macvtap.network.kubevirt.io/storage",
        "pulumi.com/patchForce": "true",  # components/ownership.py: a hand edit is set back, not a conflict
    }


def test_cni_config_names_the_nad_and_has_only_what_is_set(dev: Recording, lab: Recording) -> None:
    assert json.loads(inputs(dev, "macvtap-networks-dataplane")["spec"]["config"]) == {
        "cniVersion": "0.3.1",
        "name": "dataplane",
        "type": "macvtap",
    }
    promiscuous = nad_name(attachment(network="lan", promiscMode=True))
    assert json.loads(inputs(lab, f"macvtap-networks-{promiscuous}")["spec"]["config"]) == {
        "cniVersion": "0.3.1",
        "name": promiscuous,
        "type": "macvtap",
        "promiscMode": True,
    }


def test_nads_live_in_the_vm_namespace() -> None:
    recording = record_stack("dev", config_overrides={"kvm-in-a-pod:vmNamespace": "lab-vms"})
    assert inputs(recording, "macvtap-networks-dataplane")["metadata"]["namespace"] == "lab-vms"


def test_a_stack_without_vms_registers_no_nad() -> None:
    recording = record_stack("dev", config_overrides={"kvm-in-a-pod:vms": []})
    assert recording.of_type(NAD) == [] and recording.outputs["vms"] == {}
    assert not [r for r in recording.resources if r.type == "kvm-in-a-pod:index:MacvtapNetworks"]


def test_promisc_mode_false_is_the_same_nad_as_no_setting() -> None:
    assert nad_name(attachment(promiscMode=False)) == nad_name(attachment()) == "storage"
    assert nad_name(attachment(promiscMode=False, mtu=9000)) == nad_name(attachment(mtu=9000))
