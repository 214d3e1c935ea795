"""MacvtapDevicePlugin: the DaemonSet that advertises macvtap.network.kubevirt.io/<name>."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import LowerDevice, MacvtapConfig
from components.ownership import owned

RESOURCE_PREFIX = "macvtap.network.kubevirt.io"
CONFIG_MAP_NAME = "macvtap-deviceplugin-config"
DAEMONSET_NAME = "macvtap-cni"
CONFIG_HASH_ANNOTATION = "kvm-in-a-pod/device-config-sha256"
DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
# Upstream's v0.13.1 probes used `test -S ...*`, which breaks as soon as two devices are
# exposed; upstream fixed it with this glob (domain.md).
PROBE_COMMAND = ["sh", "-c", f"ls {DEVICE_PLUGIN_DIR}/{RESOURCE_PREFIX}* >/dev/null 2>&1"]


def resource_name_for(network: str) -> str:
    """The node resource a NAD requests to get a device on ``network``."""
    return f"{RESOURCE_PREFIX}/{network}"


def device_plugin_config_json(lower_devices: Sequence[LowerDevice]) -> str:
    """``DP_MACVTAP_CONF``: a JSON array of {name, lowerDevice, mode, capacity}, stable bytes."""
    entries = [{"name": d.name, "lowerDevice": d.lower_device, "mode": d.mode, "capacity": d.capacity} for d in lower_devices]
    return json.dumps(entries, separators=(",", ":"))


def config_hash(config_json: str) -> str:
    return hashlib.sha256(config_json.encode()).hexdigest()


def daemonset_spec(config: MacvtapConfig, config_json: str) -> dict[str, Any]:
    """The device plugin DaemonSet spec; the install-cni init container only in daemonset mode."""
    labels = {"app.kubernetes.io/name": DAEMONSET_NAME, "app.kubernetes.io/part-of": "kvm-in-a-pod"}
    device_plugin_mount = {"name": "deviceplugin", "mountPath": DEVICE_PLUGIN_DIR}
    container = {
        "name": DAEMONSET_NAME,
        "image": config.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/macvtap-deviceplugin", "-v", "3", "-logtostderr"],
        "env": [
            {
                "name": "DP_MACVTAP_CONF",
                "valueFrom": {"configMapKeyRef": {"name": CONFIG_MAP_NAME, "key": "DP_MACVTAP_CONF"}},
            }
        ],
        "resources": {"requests": {"cpu": "60m", "memory": "30Mi"}, "limits": {"memory": "100Mi"}},
        "securityContext": {"privileged": True},
        "volumeMounts": [device_plugin_mount],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "readinessProbe": {"exec": {"command": PROBE_COMMAND}, "initialDelaySeconds": 5, "periodSeconds": 10},
        "livenessProbe": {"exec": {"command": PROBE_COMMAND}, "initialDelaySeconds": 15, "periodSeconds": 60},
    }
    volumes: list[dict[str, Any]] = [
        {"name": "deviceplugin", "hostPath": {"path": DEVICE_PLUGIN_DIR, "type": "Directory"}},
    ]
    pod_spec: dict[str, Any] = {
        "serviceAccountName": DAEMONSET_NAME,
        "hostNetwork": True,
        "hostPID": True,
        "priorityClassName": "system-node-critical",
        "nodeSelector": {"kubernetes.io/os": "linux", **dict(sorted(config.node_selector.items()))},
        "containers": [container],
        "volumes": volumes,
    }
    if config.tolerations:
        pod_spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in config.tolerations]
    if config.cni_install == "daemonset":
        pod_spec["initContainers"] = [
            {
                "name": "install-cni",
                "image": config.image,
                "imagePullPolicy": "IfNotPresent",
                # Copy then rename so a kubelet never executes a half-written plugin binary.
                "command": [
                    "sh",
                    "-c",
                    "cp /macvtap-cni /host/opt/cni/bin/.macvtap.tmp && mv -f /host/opt/cni/bin/.macvtap.tmp /host/opt/cni/bin/macvtap",
                ],
                "resources": {"requests": {"cpu": "10m", "memory": "15Mi"}},
                "securityContext": {"privileged": True},
                "volumeMounts": [{"name": "cni", "mountPath": "/host/opt/cni/bin"}],
            }
        ]
        volumes.append({"name": "cni", "hostPath": {"path": config.cni_bin_dir, "type": "DirectoryOrCreate"}})
    return {
        "selector": {"matchLabels": {"app.kubernetes.io/name": DAEMONSET_NAME}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
        "template": {
            "metadata": {
                "labels": labels,
                # macvtap-cni reads DP_MACVTAP_CONF once at start-up, so a config change must
                # roll the pods: the pod template carries the config's hash.
                "annotations": {CONFIG_HASH_ANNOTATION: config_hash(config_json)},
            },
            "spec": pod_spec,
        },
    }


class MacvtapDevicePlugin(pulumi.ComponentResource):
    """Namespace, ServiceAccount, device config and the macvtap-cni DaemonSet.

    ``daemonset`` is what VMs wait on; ``resource_names`` maps each network to the node
    resource its NADs must request.
    """

    namespace: k8s.core.v1.Namespace
    service_account: k8s.core.v1.ServiceAccount
    config_map: k8s.core.v1.ConfigMap
    daemonset: k8s.apps.v1.DaemonSet
    resource_names: dict[str, str]

    def __init__(self, name: str, config: MacvtapConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kvm-in-a-pod:index:MacvtapDevicePlugin", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.resource_names = {network: resource_name_for(network) for network in config.network_names}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=owned({"name": config.namespace}),
            opts=child,
        )
        namespace = self.namespace.metadata.apply(lambda metadata: metadata.name)
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=owned({"name": DAEMONSET_NAME, "namespace": namespace}),
            # The plugin reads its config from the environment and never calls the API server.
            automount_service_account_token=False,
            opts=child,
        )
        config_json = device_plugin_config_json(config.lower_devices)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=owned({"name": CONFIG_MAP_NAME, "namespace": namespace}),
            data={"DP_MACVTAP_CONF": config_json},
            opts=child,
        )
        # The pure builder returns plain JSON-shaped data, which the SDK accepts as input.
        spec: Any = daemonset_spec(config, config_json)
        self.daemonset = k8s.apps.v1.DaemonSet(
            f"{name}-daemonset",
            metadata=owned({"name": DAEMONSET_NAME, "namespace": namespace}),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.config_map, self.service_account]),
        )
        self.register_outputs({"resourceNames": self.resource_names})
