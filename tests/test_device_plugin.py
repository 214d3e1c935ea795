"""Claims about the MacvtapDevicePlugin component (domain.md, "macvtap-cni").

- DP_MACVTAP_CONF lists every lower device as {name, lowerDevice, mode, capacity}.
- The DaemonSet matches upstream's essentials: privileged, hostNetwork, hostPID,
  system-node-critical, the device-plugins hostPath, the pinned image.
- Its probes work with several devices (the upstream glob fix, not `test -S`).
- The install-cni init container exists only in daemonset mode.
- A change of the device config changes the pod template (the plugin reads it once).
- nodeSelector and tolerations reach the pod spec.
- Each network's resource name is exported.
"""

from __future__ import annotations

import json
from typing import Any

from offline.engine import Recording, record_stack
from tests.conftest import stack_value
from tests.recorded import inputs


def pod_spec(recording: Recording) -> dict[str, Any]:
    spec: dict[str, Any] = inputs(recording, "macvtap-daemonset")["spec"]["template"]["spec"]
    return spec


def record_with_macvtap(**fields: Any) -> Recording:
    return record_stack("dev", config_overrides={"kvm-in-a-pod:macvtap": {**stack_value("dev", "macvtap"), **fields}})


def test_device_config_lists_every_lower_device(lab: Recording) -> None:
    config_map = inputs(lab, "macvtap-config")
    assert config_map["metadata"]["name"] == "macvtap-deviceplugin-config"
    assert json.loads(config_map["data"]["DP_MACVTAP_CONF"]) == [
        {"name": "lan", "lowerDevice": "eno2", "mode": "bridge", "capacity": 20},
        {"name": "storage", "lowerDevice": "eno3", "mode": "vepa", "capacity": 10},
    ]


def test_daemonset_has_upstreams_essentials(dev: Recording) -> None:
    spec = pod_spec(dev)
    assert (spec["hostNetwork"], spec["hostPID"]) == (True, True)
    assert spec["priorityClassName"] == "system-node-critical"
    [container] = spec["containers"]
    assert container["image"] == "quay.io/kubevirt/macvtap-cni:v0.13.1"
    assert container["command"][0] == "/macvtap-deviceplugin"
    assert container["securityContext"] == {"privileged": True}
    assert container["env"] == [
        {
            "name": "DP_MACVTAP_CONF",
            "valueFrom": {"configMapKeyRef": {"name": "macvtap-deviceplugin-config", "key": "DP_MACVTAP_CONF"}},
        }
    ]
    assert {"name": "deviceplugin", "mountPath": "/var/lib/kubelet/device-plugins"} in container["volumeMounts"]
    assert container["resources"]["requests"] == {"cpu": "60m", "memory": "30Mi"}


def test_probes_use_the_glob_that_survives_several_devices(lab: Recording) -> None:
    [container] = pod_spec(lab)["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command == ["sh", "-c", "ls /var/lib/kubelet/device-plugins/macvtap.network.kubevirt.io* >/dev/null 2>&1"]
        assert "test -S" not in " ".join(command)


def test_install_cni_init_container_only_in_daemonset_mode(dev: Recording, lab: Recording) -> None:
    [init] = pod_spec(dev)["initContainers"]
    assert init["name"] == "install-cni"
    assert "/host/opt/cni/bin/macvtap" in init["command"][-1]
    assert {"name": "cni", "hostPath": {"path": "/opt/cni/bin", "type": "DirectoryOrCreate"}} in pod_spec(dev)["volumes"]
    assert "initContainers" not in pod_spec(lab)
    assert all(volume["name"] != "cni" for volume in pod_spec(lab)["volumes"])


def test_config_change_rolls_the_pods(dev: Recording) -> None:
    changed = record_with_macvtap(lowerDevices=[{"name": "dataplane", "lowerDevice": "eth1"}])
    before = inputs(dev, "macvtap-daemonset")["spec"]["template"]["metadata"]["annotations"]
    after = inputs(changed, "macvtap-daemonset")["spec"]["template"]["metadata"]["annotations"]
    assert before["kvm-in-a-pod/device-config-sha256"] != after["kvm-in-a-pod/device-config-sha256"]


def test_unchanged_config_keeps_the_pod_template(dev: Recording) -> None:
    again = record_stack("dev")
    assert inputs(dev, "macvtap-daemonset") == inputs(again, "macvtap-daemonset")


def test_placement_knobs_reach_the_pod_spec() -> None:
    recording = record_with_macvtap(
        nodeSelector={"kvm-in-a-pod/macvtap": "true"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "vms", "effect": "NoSchedule"}],
    )
    spec = pod_spec(recording)
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "kvm-in-a-pod/macvtap": "true"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "vms", "effect": "NoSchedule"}]


def test_everything_lives_in_the_configured_namespace() -> None:
    recording = record_with_macvtap(namespace="network-infra")
    assert inputs(recording, "macvtap-namespace")["metadata"]["name"] == "network-infra"
    for name in ("macvtap-service-account", "macvtap-config", "macvtap-daemonset"):
        assert inputs(recording, name)["metadata"]["namespace"] == "network-infra"


def test_service_account_mounts_no_token(dev: Recording) -> None:
    assert inputs(dev, "macvtap-service-account")["automountServiceAccountToken"] is False
    assert pod_spec(dev)["serviceAccountName"] == "macvtap-cni"


def test_resource_names_are_exported_per_network(lab: Recording) -> None:
    assert lab.outputs["macvtapResourceNames"] == {
        "lan": "macvtap.network.kubevirt.io/lan",
        "storage": "macvtap.network.kubevirt.io/storage",
    }
