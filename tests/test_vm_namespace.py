"""Claims a user checks about the VMs' namespace (`vmNamespace`, `createVmNamespace`).

- A `vmNamespace` other than `default` is created by the stack, under exactly that name, and
  every NAD and VMI in it waits for it directly.
- `createVmNamespace: false` (the namespace exists already) registers no namespace, and nothing
  waits for one.
- `default` and the other namespaces every cluster has are never created.
- VMs sharing the device plugin's namespace wait for that namespace; no second one is made.
- `kubevirt`, which KubeVirt's operator manifest owns, is refused unless createVmNamespace is false.

Not shown here: that `pulumi destroy` deletes the namespace. It is an ordinary resource with no
`protect` or `retainOnDelete`, which the real engine deletes; the mock engine runs no destroy.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from offline.engine import Recording, StackConfigError, record_stack
from tests.recorded import depends_on, inputs

NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
NADS_AND_VMIS = ("macvtap-networks-dataplane", "vm1-vmi", "vm2-vmi")


def record_dev(**overrides: Any) -> Recording:
    return record_stack("dev", config_overrides={f"kvm-in-a-pod:{key}": value for key, value in overrides.items()})


def vm_namespaces(recording: Recording) -> list[str]:
    """Names of the Namespace objects other than the device plugin's."""
    return [inputs(recording, r.name)["metadata"]["name"] for r in recording.of_type(NAMESPACE_TYPE) if r.name != "macvtap-namespace"]


@pytest.fixture(scope="module")
def lab_vms() -> Recording:
    return record_dev(vmNamespace="lab-vms")


def test_a_namespace_other_than_default_is_created_under_its_own_name(lab_vms: Recording) -> None:
    assert vm_namespaces(lab_vms) == ["lab-vms"]
    assert lab_vms.named("vm-namespace").type == NAMESPACE_TYPE


@pytest.mark.parametrize("name", NADS_AND_VMIS)
def test_nads_and_vmis_wait_for_the_namespace_they_live_in(lab_vms: Recording, name: str) -> None:
    assert inputs(lab_vms, name)["metadata"]["namespace"] == "lab-vms"
    assert "vm-namespace" in depends_on(lab_vms, name)


def test_an_existing_namespace_is_neither_created_nor_waited_for() -> None:
    recording = record_dev(vmNamespace="lab-vms", createVmNamespace=False)
    assert vm_namespaces(recording) == []
    assert inputs(recording, "vm1-vmi")["metadata"]["namespace"] == "lab-vms"


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public", "kube-node-lease"])
def test_namespaces_every_cluster_has_are_never_created(name: str) -> None:
    assert vm_namespaces(record_dev(vmNamespace=name)) == []


def test_the_dev_stack_creates_no_vm_namespace(dev: Recording) -> None:
    assert vm_namespaces(dev) == []


def test_vms_in_the_device_plugins_namespace_wait_for_it_and_no_second_one_is_made() -> None:
    recording = record_dev(vmNamespace="kvm-in-a-pod")
    assert vm_namespaces(recording) == []
    for name in NADS_AND_VMIS:
        assert "macvtap-namespace" in depends_on(recording, name)


def test_kubevirts_own_namespace_is_refused_unless_it_is_declared_existing() -> None:
    with pytest.raises(pulumi.RunError) as refused:
        record_dev(vmNamespace="kubevirt")
    assert "kvm-in-a-pod:vmNamespace: 'kubevirt' is created and owned by KubeVirt's operator manifest" in str(refused.value)
    assert vm_namespaces(record_dev(vmNamespace="kubevirt", createVmNamespace=False)) == []


def test_create_vm_namespace_must_be_a_boolean() -> None:
    # Pulumi.yaml declares it boolean, so the CLI refuses this before the program runs.
    with pytest.raises(StackConfigError) as refused:
        record_dev(createVmNamespace="sometimes")
    assert "Stack 'dev' with configuration key 'createVmNamespace' must be of type 'boolean'" in str(refused.value)


def test_create_vm_namespace_accepts_the_text_the_cli_passes() -> None:
    # `pulumi config set createVmNamespace false` stores the text "false", as the CLI's default is "true".
    assert vm_namespaces(record_dev(vmNamespace="lab-vms", createVmNamespace="false")) == []
