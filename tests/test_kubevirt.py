"""Claims about the KubeVirt component (domain.md, "KubeVirt").

- The operator manifest comes from the release URL of the configured version, or the override.
- The KubeVirt CR registers the macvtap binding plugin with domainAttachmentType tap.
- The NetworkBindingPlugins feature gate is listed only below v1.5.0 (GA since).
- Emulation is set only when configured.
- The CR is awaited until Available, with a timeout, and only after the operator manifest.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.config import KubeVirtConfig
from components.kubevirt import kubevirt_cr_spec
from offline.engine import Recording, record_stack
from tests.recorded import KUBEVIRT_CR, depends_on, inputs


def record_with_kubevirt(**kubevirt: Any) -> Recording:
    return record_stack("dev", config_overrides={"kvm-in-a-pod:kubevirt": kubevirt})


def test_operator_manifest_is_the_release_url_of_the_version(dev: Recording) -> None:
    assert inputs(dev, "kubevirt-operator")["file"] == (
        "https://github.com/kubevirt/kubevirt/releases/download/v1.9.0/kubevirt-operator.yaml"
    )


def test_operator_manifest_override_is_used_for_air_gapped_clusters(tmp_path: Any) -> None:
    manifest = tmp_path / "kubevirt-operator.yaml"
    manifest.write_text("# mirrored\n")
    recording = record_with_kubevirt(operatorManifest=str(manifest))
    assert inputs(recording, "kubevirt-operator")["file"] == str(manifest)


def test_cr_registers_the_macvtap_binding_plugin_as_tap(dev: Recording) -> None:
    cr = inputs(dev, "kubevirt-cr")
    assert cr["apiVersion"] == "kubevirt.io/v1" and cr["kind"] == "KubeVirt"
    assert (cr["metadata"]["name"], cr["metadata"]["namespace"]) == ("kubevirt", "kubevirt")
    assert cr["spec"]["configuration"]["network"]["binding"] == {"macvtap": {"domainAttachmentType": "tap"}}


@pytest.mark.parametrize(
    ("version", "gated"),
    [
        ("v1.1.1", True),
        ("v1.3.0", True),
        ("v1.4.2", True),
        ("v1.5.0", False),
        ("v1.9.0", False),
    ],
)
def test_feature_gate_only_before_v1_5(version: str, gated: bool) -> None:
    spec = kubevirt_cr_spec(KubeVirtConfig.model_validate({"version": version}))
    gates = spec["configuration"].get("developerConfiguration", {}).get("featureGates", [])
    assert ("NetworkBindingPlugins" in gates) is gated


def test_v1_4_stack_lists_the_gate_and_v1_5_does_not() -> None:
    old = inputs(record_with_kubevirt(version="v1.4.0", useEmulation=True), "kubevirt-cr")
    new = inputs(record_with_kubevirt(version="v1.5.0", useEmulation=True), "kubevirt-cr")
    assert old["spec"]["configuration"]["developerConfiguration"] == {
        "useEmulation": True,
        "featureGates": ["NetworkBindingPlugins"],
    }
    assert new["spec"]["configuration"]["developerConfiguration"] == {"useEmulation": True}


def test_emulation_only_when_configured(dev: Recording) -> None:
    assert inputs(dev, "kubevirt-cr")["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is True
    bare_metal = inputs(record_with_kubevirt(useEmulation=False), "kubevirt-cr")
    assert "developerConfiguration" not in bare_metal["spec"]["configuration"]


def test_cr_is_awaited_until_available(dev: Recording) -> None:
    annotations = inputs(dev, "kubevirt-cr")["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Available"
    assert int(annotations["pulumi.com/timeoutSeconds"]) >= 600


def test_cr_waits_for_the_operator_manifest_only(dev: Recording) -> None:
    assert depends_on(dev, "kubevirt-cr") == {"kubevirt-operator"}


def test_component_type_and_children(dev: Recording) -> None:
    component = dev.named("kubevirt")
    assert component.type == "kvm-in-a-pod:index:KubeVirt"
    assert {r.name for r in dev.children_of(component.urn)} == {"kubevirt-operator", "kubevirt-cr"}
    assert dev.named("kubevirt-cr").type == KUBEVIRT_CR
