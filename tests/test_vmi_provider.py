"""The VMIs' own Kubernetes provider (components/vmi_provider.py).

Claims a user would check:
- a VMI is registered through a provider with server-side apply off, so that `pulumi preview`
  of a VMI replacement does not send a dry-run update that KubeVirt refuses (seen under the
  real engine, tests/e2e test_07);
- every other object (NADs, VirtualMachines, the platform) keeps the default provider;
- the provider goes where the default one goes: the stack's `kubernetes:context`, `cluster`
  and `renderYamlToDirectory` are passed on, and a `kubernetes:kubeconfig` stays secret;
- a stack without VMIs registers no such provider.
"""

from __future__ import annotations

from offline.engine import Recording, is_secret, record_stack
from tests.conftest import stack_value

PROVIDER = "pulumi:providers:kubernetes"


def provider_of(recording: Recording) -> str:
    (provider,) = recording.of_type(PROVIDER)
    return provider.urn


def test_vmis_use_a_client_side_apply_provider(dev: Recording) -> None:
    (provider,) = dev.of_type(PROVIDER)
    assert provider.inputs["enableServerSideApply"] == "false"
    vmis = dev.of_type("kubernetes:kubevirt.io/v1:VirtualMachineInstance")
    assert vmis and all(vmi.provider.startswith(provider.urn) for vmi in vmis)


def test_nads_virtual_machines_and_the_platform_keep_the_default_provider(lab: Recording) -> None:
    provider = provider_of(lab)
    others = [r for r in lab.resources if r.custom and r.type not in (PROVIDER, "kubernetes:kubevirt.io/v1:VirtualMachineInstance")]
    assert any(r.type == "kubernetes:kubevirt.io/v1:VirtualMachine" for r in others)
    assert [r.name for r in others if r.provider.startswith(provider)] == []


def test_the_stacks_kubernetes_settings_are_passed_on_and_the_kubeconfig_stays_secret() -> None:
    recording = record_stack(
        "dev",
        config_overrides={"kubernetes:context": "lab-cluster", "kubernetes:renderYamlToDirectory": "rendered"},
        secret_values={"kubernetes:kubeconfig": "apiVersion: v1\nkind: Config\n"},
    )
    (provider,) = recording.of_type(PROVIDER)
    assert provider.inputs["context"] == "lab-cluster"
    assert provider.inputs["renderYamlToDirectory"] == "rendered"
    assert is_secret(provider.inputs["kubeconfig"])


def test_a_stack_of_virtual_machines_only_has_no_such_provider() -> None:
    vms = stack_value("dev", "vms")
    for vm in vms:
        vm["kind"] = "VirtualMachine"
    recording = record_stack("dev", config_overrides={"kvm-in-a-pod:vms": vms})
    assert recording.of_type(PROVIDER) == []
