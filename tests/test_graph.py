"""Claims about the dependency graph, edge by edge (issue: "The graph").

- A VM object (VMI or VirtualMachine) depends on the shared NADs it uses, the KubeVirt CR,
  the device plugin DaemonSet and (ssh mode) every node install; on nothing else.
- NADs depend on Multus when it is installed; on nothing else.
- VMs never wait for each other; nodes never wait for each other.
- Every resource is parented to its component; components are children of the stack.
"""

from __future__ import annotations

from components.config import MacvtapAttachment, nad_name
from offline.engine import Recording
from tests.recorded import NAD, VM, VMI, dependency_closure, depends_on


def nad_resource(network: str, **settings: object) -> str:
    return "macvtap-networks-" + nad_name(MacvtapAttachment.model_validate({"network": network, **settings}))


def test_dev_vmi_edges(dev: Recording) -> None:
    assert depends_on(dev, "vm1-vmi") == {"macvtap-networks-dataplane", "kubevirt-cr", "macvtap-daemonset"}
    assert depends_on(dev, "vm2-vmi") == {"macvtap-networks-dataplane", "kubevirt-cr", "macvtap-daemonset"}


def test_lab_vm_edges_include_every_node_install(lab: Recording) -> None:
    platform = {"kubevirt-cr", "macvtap-daemonset", "macvtap-cni-node01-install", "macvtap-cni-node02-install"}
    assert depends_on(lab, "web1-vm") == {nad_resource("lan", mtu=1500), nad_resource("storage", mtu=9000), *platform}
    assert depends_on(lab, "db1-vmi") == {nad_resource("lan", promiscMode=True), nad_resource("storage", mtu=9000), *platform}


def test_nads_depend_on_multus_only(lab: Recording) -> None:
    for nad in lab.of_type(NAD):
        assert depends_on(lab, nad.name) == {"multus-manifest"}


def test_vms_never_wait_for_each_other(lab: Recording) -> None:
    assert not {"db1-vmi", nad_resource("lan", promiscMode=True)} & dependency_closure(lab, "web1-vm")
    assert not {"web1-vm", nad_resource("lan", mtu=1500)} & dependency_closure(lab, "db1-vmi")


def test_vmi_does_not_wait_for_multus_except_through_its_nads(dev: Recording) -> None:
    assert "multus-manifest" not in depends_on(dev, "vm1-vmi")


def test_platform_does_not_wait_for_vms(lab: Recording) -> None:
    vm_names = {r.name for r in [*lab.of_type(VMI), *lab.of_type(VM), *lab.of_type(NAD)]}
    for platform in ("kubevirt-cr", "macvtap-daemonset", "macvtap-cni-node01-install", "multus-manifest"):
        assert not vm_names & dependency_closure(lab, platform)


def test_kubevirt_and_device_plugin_are_independent(lab: Recording) -> None:
    assert not {"kubevirt-cr", "kubevirt-operator"} & dependency_closure(lab, "macvtap-daemonset")
    assert not {"macvtap-daemonset", "macvtap-config"} & dependency_closure(lab, "kubevirt-cr")


def test_every_resource_is_parented_to_its_component(lab: Recording) -> None:
    for resource in lab.resources:
        if resource.type.startswith("pulumi:providers:"):
            continue  # a provider is the stack's, like the default provider (tests/test_vmi_provider.py)
        if resource.type.startswith("kvm-in-a-pod:index:"):
            assert resource.parent == "", resource.name
        else:
            parent = lab.by_urn(resource.parent)
            assert parent.type.startswith("kvm-in-a-pod:index:"), resource.name
            assert resource.name.startswith(parent.name + "-"), resource.name
