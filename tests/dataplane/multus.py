"""Multus's part: one delegate CNI call per macvtap NIC of a VM's pod, as Multus v4.3.0 makes it.

Followed code (k8snetworkplumbingwg/multus-cni v4.3.0):

- the pod's network selection elements come from KubeVirt (kubevirt ``pkg/network/multus/
  annotation.go`` NewAnnotationData): per secondary network ``{name, namespace, interface:
  <hashed pod interface>, mac: <the VM interface's macAddress>}``, in the VM's network order;
- ``pkg/k8sclient/k8sclient.go`` getKubernetesDelegate: the NAD's ``resourceName`` annotation
  selects the device IDs the kubelet allocated to the pod for that resource, the n-th NIC on
  a resource taking the n-th ID;
- ``pkg/types/conf.go`` delegateAddDeviceID: the NAD's ``spec.config`` with ``deviceID`` (and
  ``pciBusID``) set to that ID, re-marshalled (Go's encoding/json sorts map keys);
- ``pkg/types/conf.go`` createRuntimeConf and ``pkg/multus/multus.go`` DelegateAdd: CNI_ARGS
  ``IgnoreUnknown=true;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;K8S_POD_INFRA_CONTAINER_ID=..;
  K8S_POD_UID=..`` plus ``MAC=<mac>`` when the element asks for one, joined with ``;`` by libcni;
- libcni execs the plugin named by ``type`` from the CNI bin dir, with the config on stdin.

The delegate runs on the node (Multus's thick daemon runs in the host's namespaces).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.dataplane.lan import CNI_BIN_DIR, Node
from tests.dataplane.objects import Nad, VmNic


@dataclass(frozen=True)
class Pod:
    """The VM's virt-launcher pod, as far as CNI sees it."""

    namespace: str
    name: str
    uid: str
    sandbox_id: str
    netns: str  # the pod's named network namespace

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"


@dataclass(frozen=True)
class CniResult:
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed

    @property
    def error(self) -> str:
        """The plugin's error message (CNI errors are JSON on stdout)."""
        try:
            return str(json.loads(self.stdout).get("msg", self.stdout))
        except ValueError:
            return (self.stdout + self.stderr).strip()


def network_selection(nic: VmNic, nad: Nad) -> dict[str, str]:
    element = {"name": nad.name, "namespace": nad.namespace, "interface": nic.pod_interface}
    if nic.mac:
        element["mac"] = nic.mac
    return element


def delegate_config(nad: Nad, device_id: str) -> str:
    """delegateAddDeviceID: the NAD's config with the allocated device, keys sorted as Go marshals a map."""
    config = json.loads(nad.config_text)
    config["deviceID"] = device_id
    config["pciBusID"] = device_id
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def cni_args(pod: Pod, mac: str | None) -> str:
    args = [
        ("IgnoreUnknown", "true"),
        ("K8S_POD_NAMESPACE", pod.namespace),
        ("K8S_POD_NAME", pod.name),
        ("K8S_POD_INFRA_CONTAINER_ID", pod.sandbox_id),
        ("K8S_POD_UID", pod.uid),
    ]
    if mac:
        args.append(("MAC", mac))
    return ";".join(f"{key}={value}" for key, value in args)


def cni_env(command: str, pod: Pod, ifname: str, args: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": pod.sandbox_id,
        "CNI_NETNS": pod.netns_path,
        "CNI_IFNAME": ifname,
        "CNI_ARGS": args,
        "CNI_PATH": CNI_BIN_DIR,
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }


def invoke(node: Node, command: str, pod: Pod, nic: VmNic, nad: Nad, device_id: str, mac: str | None) -> CniResult:
    """Run the NAD's plugin on ``node`` for one NIC (``mac`` None: Multus got no MAC for it)."""
    config = delegate_config(nad, device_id)
    plugin = f"{CNI_BIN_DIR}/{json.loads(config)['type']}"
    env = cni_env(command, pod, nic.pod_interface, cni_args(pod, mac))
    argv = node.enter(["env", "-i", *(f"{key}={value}" for key, value in env.items()), plugin])
    done = subprocess.run(argv, input=config, capture_output=True, text=True, timeout=60, check=False)
    return CniResult(done.returncode, done.stdout, done.stderr)


def add_all(node: Node, pod: Pod, nics: Sequence[tuple[VmNic, Nad, str]], send_mac: bool = True) -> list[CniResult]:
    """CmdAdd: the delegates in order; on a failure, the ones already added are deleted again."""
    results: list[CniResult] = []
    for index, (nic, nad, device_id) in enumerate(nics):
        result = invoke(node, "ADD", pod, nic, nad, device_id, nic.mac if send_mac else None)
        results.append(result)
        if result.code != 0:
            # multus.go CmdAdd: delPlugins(..., idx) tears down what was set up before the failure.
            for done_nic, done_nad, done_id in nics[:index]:
                invoke(node, "DEL", pod, done_nic, done_nad, done_id, None)
            break
    return results


def delete_all(node: Node, pod: Pod, nics: Sequence[tuple[VmNic, Nad, str]]) -> list[CniResult]:
    return [invoke(node, "DEL", pod, nic, nad, device_id, None) for nic, nad, device_id in reversed(nics)]
