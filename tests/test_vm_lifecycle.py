"""Claims about what `pulumi up` does to running VMs when the config changes (issue 11).

Checked on two recordings of the real program (before and after a config change) through
offline.lifecycle, a model of the kubernetes provider's diff and the engine's
replaceOnChanges (see its docstring for the upstream code it follows):

- Raising one VMI's memory replaces that VMI, deleting the old one before creating the new
  one (its name is fixed), and changes nothing else: virt-api refuses any spec update.
- A metadata-only change of a VMI (a label, an annotation other than the NAD digest) stays an
  update, which virt-api allows.
- Changing one attachment's mtu changes exactly that VM's VMI inputs (it moves to another
  shared NAD) and no other VM's; the shared NAD the others still use stays, the new one is
  created, and a NAD nobody uses any more is deleted.
- A NAD whose config changes under the same name is updated, and exactly the VMIs using it are
  replaced (through the digest annotation), because Multus reads a NAD only at pod creation.
- A VirtualMachine's spec or NAD change is an update of the VirtualMachine (KubeVirt applies it
  at the next restart), never a replacement.
- The recording engine keeps the resource options that decide this: replaceOnChanges and
  deleteBeforeReplace.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

import components.macvtap_networks as macvtap_networks
from components.config import MacvtapAttachment, nad_name
from components.macvtap_vm import NAD_DIGEST_ANNOTATION, NAD_GENERATIONS_ANNOTATION
from offline.engine import Recording, record_stack
from offline.lifecycle import (
    changed_paths,
    contains,
    format_property_path,
    parse_property_path,
    plan_steps,
    touched,
)
from tests.conftest import stack_value

STORAGE_9000 = nad_name(MacvtapAttachment(network="storage", mtu=9000))


def dev_vms(edit: Callable[[list[dict[str, Any]]], None]) -> Recording:
    vms = stack_value("dev", "vms")
    edit(vms)
    return record_stack("dev", config_overrides={"kvm-in-a-pod:vms": vms})


def with_edited(recording: Recording, name: str, edit: Callable[[dict[str, Any]], None]) -> Recording:
    """``recording`` with the inputs of ``name`` changed, for changes the config cannot express."""
    edited = json.loads(json.dumps(dict(recording.named(name).inputs)))
    edit(edited)
    resources = [dataclasses.replace(r, inputs=edited) if r.name == name else r for r in recording.resources]
    return dataclasses.replace(recording, resources=resources)


# --- the model against the upstream rules it follows ---------------------------------------


def test_property_paths_read_and_print_as_pulumi_does() -> None:
    path = parse_property_path(f'metadata.annotations["{NAD_DIGEST_ANNOTATION}"]')
    assert path == ("metadata", "annotations", NAD_DIGEST_ANNOTATION)
    assert format_property_path(path) == f'metadata.annotations["{NAD_DIGEST_ANNOTATION}"]'
    interface_mac = ("spec", "domain", "devices", "interfaces", 1, "macAddress")
    assert parse_property_path("spec.domain.devices.interfaces[1].macAddress") == interface_mac
    with pytest.raises(ValueError, match="not a property path"):
        parse_property_path('spec["unterminated')


def test_a_replace_path_contains_the_leaf_paths_under_it() -> None:
    assert contains(("spec",), ("spec", "domain", "resources", "requests", "memory"))
    assert contains(("spec", "*", "x"), ("spec", 3, "x", "y"))
    assert not contains(("spec", "domain"), ("spec",))
    assert not contains(("metadata", "annotations", "a"), ("metadata", "annotations", "b"))


def test_changed_paths_are_leaves() -> None:
    old = {"spec": {"a": [1, {"b": 2}], "c": "x"}, "metadata": {"labels": {"k": "v"}}}
    new = {"spec": {"a": [1, {"b": 3}, 4], "c": "x"}, "metadata": {"labels": {}}}
    assert list(changed_paths(old, new)) == [("metadata", "labels", "k"), ("spec", "a", 1, "b"), ("spec", "a", 2)]


# --- VMIs -----------------------------------------------------------------------------------


def test_engine_records_the_options_that_decide_replacement(dev: Recording) -> None:
    vmi = dev.named("vm1-vmi")
    assert vmi.replace_on_changes == (
        "spec",
        f'metadata.annotations["{NAD_DIGEST_ANNOTATION}"]',
        f'metadata.annotations["{NAD_GENERATIONS_ANNOTATION}"]',
    )
    assert vmi.delete_before_replace is True


def test_raising_one_vmis_memory_replaces_only_that_vmi_deleting_it_first(dev: Recording) -> None:
    def more_memory(vms: list[dict[str, Any]]) -> None:
        vms[0]["memory"] = "2Gi"

    steps = plan_steps(dev, dev_vms(more_memory))
    assert touched(steps) == {"vm1-vmi": "replace"}
    assert steps["vm1-vmi"].replaced_by == ("spec.domain.resources.requests.memory",)
    assert steps["vm1-vmi"].delete_before_replace


def test_a_metadata_only_change_of_a_vmi_stays_an_update(dev: Recording) -> None:
    def relabel(inputs: dict[str, Any]) -> None:
        inputs["metadata"]["labels"]["app.kubernetes.io/part-of"] = "demo"
        inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] = "1200"

    steps = plan_steps(dev, with_edited(dev, "vm1-vmi", relabel))
    assert touched(steps) == {"vm1-vmi": "update"}
    assert steps["vm1-vmi"].changed == (
        'metadata.annotations["pulumi.com/timeoutSeconds"]',
        'metadata.labels["app.kubernetes.io/part-of"]',
    )


def test_one_attachments_mtu_changes_only_that_vms_vmi(dev: Recording) -> None:
    def jumbo_vm1(vms: list[dict[str, Any]]) -> None:
        vms[0]["macvtap"][0]["mtu"] = 9000

    after = dev_vms(jumbo_vm1)
    jumbo = nad_name(MacvtapAttachment(network="dataplane", mtu=9000))
    assert touched(plan_steps(dev, after)) == {"macvtap-networks-" + jumbo: "create", "vm1-vmi": "replace"}
    assert dict(after.named("vm2-vmi").inputs) == dict(dev.named("vm2-vmi").inputs)
    assert after.named("vm1-vmi").inputs["spec"]["networks"][1]["multus"]["networkName"] == jumbo


def test_a_nad_nobody_uses_any_more_is_deleted(lab: Recording, record_lab: Any) -> None:
    vms = stack_value("lab", "vms")
    for machine in vms:
        machine["macvtap"][1]["mtu"] = 1500  # both VMs leave the shared storage NAD
    steps = touched(plan_steps(lab, record_lab(vms=vms)))
    storage_1500 = nad_name(MacvtapAttachment(network="storage", mtu=1500))
    assert steps["macvtap-networks-" + STORAGE_9000] == "delete"
    assert steps["macvtap-networks-" + storage_1500] == "create"
    assert (steps["db1-vmi"], steps["web1-vm"]) == ("replace", "update")


def test_a_nad_config_change_replaces_exactly_the_vmis_using_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def vm2_jumbo(vms: list[dict[str, Any]]) -> None:
        vms[1]["macvtap"][0]["mtu"] = 9000  # vm2 on its own NAD; vm1 alone on `dataplane`

    before = dev_vms(vm2_jumbo)
    original = macvtap_networks.cni_config

    def owned_by_qemu(nad: macvtap_networks.NadSpec) -> str:
        # A new program version setting the tap owner on `dataplane` only: same NAD name, new config.
        config = json.loads(original(nad))
        return json.dumps({**config, "owner": 107}) if nad.name == "dataplane" else original(nad)

    monkeypatch.setattr(macvtap_networks, "cni_config", owned_by_qemu)
    steps = plan_steps(before, dev_vms(vm2_jumbo))
    assert touched(steps) == {"macvtap-networks-dataplane": "update", "vm1-vmi": "replace"}
    assert steps["vm1-vmi"].replaced_by == (f'metadata.annotations["{NAD_DIGEST_ANNOTATION}"]',)


# --- VirtualMachines --------------------------------------------------------------------------


def test_a_virtual_machines_spec_change_is_an_update(lab: Recording, record_lab: Any) -> None:
    vms = stack_value("lab", "vms")
    vms[0]["memory"] = "3Gi"
    steps = plan_steps(lab, record_lab(vms=vms))
    assert touched(steps) == {"web1-vm": "update"}
    assert steps["web1-vm"].changed == ("spec.template.spec.domain.resources.requests.memory",)


def test_a_virtual_machines_nad_change_is_an_update_of_its_template(lab: Recording, record_lab: Any) -> None:
    vms = stack_value("lab", "vms")
    vms[0]["macvtap"][0]["mtu"] = 9000
    steps = plan_steps(lab, record_lab(vms=vms))
    assert steps["web1-vm"].operation == "update"
    assert 'spec.template.metadata.annotations["kvm-in-a-pod.io/nad-configs-digest"]' in steps["web1-vm"].changed
    assert steps["db1-vmi"].operation == "same"
