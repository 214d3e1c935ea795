"""Claims about the Multus component (domain.md, "Multus").

- The thick-plugin manifest is applied from the configured release tag.
- Its floating snapshot-thick image is pinned to the release's -thick tag (or the configured image).
- With install: false nothing of Multus is registered and NADs wait on nothing Multus.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.multus import pin_multus_images
from offline.engine import Recording, record_stack
from tests.recorded import CONFIG_FILE, NAD, depends_on, inputs


def multus_daemonset(image: str) -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "install-multus-binary", "image": image}],
                    "containers": [{"name": "kube-multus", "image": image}, {"name": "sidecar", "image": "busybox:1.36"}],
                }
            }
        }
    }


def test_manifest_is_the_thick_plugin_at_the_release_tag(dev: Recording) -> None:
    assert inputs(dev, "multus-manifest")["file"] == (
        "https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/v4.3.0/deployments/multus-daemonset-thick.yml"
    )


def test_floating_image_is_pinned_in_every_multus_container() -> None:
    pinned = pin_multus_images(
        multus_daemonset("ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick"),
        "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick",
    )
    assert pinned is not None
    pod = pinned["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["initContainers"] + pod["containers"]] == [
        "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick",
        "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick",
        "busybox:1.36",
    ]


def test_pinning_leaves_the_original_props_untouched() -> None:
    original = multus_daemonset("ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick")
    pin_multus_images(original, "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick")
    assert original["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":snapshot-thick")


def test_already_pinned_daemonset_is_not_transformed() -> None:
    image = "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick"
    assert pin_multus_images(multus_daemonset(image), image) is None


def test_the_registered_transform_pins_the_manifests_daemonset(dev: Recording) -> None:
    # The engine calls the transform back for each child of the remote ConfigFile; here we
    # call the very callable that was registered, on a DaemonSet like the manifest's.
    [transform] = dev.transforms[dev.named("multus-manifest").urn]
    daemonset = multus_daemonset("ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick")
    result = transform(
        pulumi.ResourceTransformArgs(
            custom=True,
            type_="kubernetes:apps/v1:DaemonSet",
            name="kube-system/kube-multus-ds",
            props=daemonset,
            opts=pulumi.ResourceOptions(),
        )
    )
    assert result.props["spec"]["template"]["spec"]["containers"][0]["image"] == ("ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick")


def test_the_transform_leaves_other_kinds_alone(dev: Recording) -> None:
    [transform] = dev.transforms[dev.named("multus-manifest").urn]
    config_map = {"data": {"image": "ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick"}}
    assert (
        transform(
            pulumi.ResourceTransformArgs(
                custom=True,
                type_="kubernetes:core/v1:ConfigMap",
                name="x",
                props=config_map,
                opts=pulumi.ResourceOptions(),
            )
        )
        is None
    )


def test_install_false_registers_nothing_of_multus() -> None:
    recording = record_stack("dev", config_overrides={"kvm-in-a-pod:multus": {"install": False}})
    assert not [r for r in recording.resources if r.name.startswith("multus")]
    assert recording.of_type(CONFIG_FILE) == [recording.named("kubevirt-operator")]
    for nad in recording.of_type(NAD):
        assert depends_on(recording, nad.name) == set()


def test_nads_wait_for_multus_when_it_is_installed(dev: Recording) -> None:
    for nad in dev.of_type(NAD):
        assert depends_on(dev, nad.name) == {"multus-manifest"}
