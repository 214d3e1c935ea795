"""One stack's dataplane: its nodes with the real device plugin and CNI, and its VMs in qemu.

Who plays what (README, "Dataplane"):

- **upstream programs, run for real**: the macvtap device plugin (``/macvtap-deviceplugin``,
  with the DaemonSet's command and the ConfigMap's ``DP_MACVTAP_CONF``) on every node, the
  macvtap CNI (``/opt/cni/bin/macvtap``, installed the way the stack installs it) for every
  NIC, qemu for every VM, and the guest's Linux kernel;
- **played by the suite, following the upstream code it cites**: the kubelet's device manager
  (``kubelet.py``), the scheduler's resource check, Multus's delegation (``multus.py``) and
  virt-launcher's tap attachment (``guest.py``);
- **not played at all**: the API server's and KubeVirt's controllers (the objects come from the
  plan or from an API server), the pod network, DHCP (guests get static addresses).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.dataplane import multus
from tests.dataplane.guest import Guest, GuestImage, Tap
from tests.dataplane.kubelet import Kubelet
from tests.dataplane.lan import CNI_BIN_DIR, Lan, Node, link, run
from tests.dataplane.objects import Nad, StackObjects, VmNic, VmObject
from tests.e2e.processes import Server

# The image's binaries (macvtap-cni's Dockerfile puts both at the root of the image).
IMAGE_DEVICE_PLUGIN = "/macvtap-deviceplugin"
IMAGE_CNI = "/macvtap-cni"
REGISTRATION_TIMEOUT = 60.0


@dataclass(frozen=True)
class Binaries:
    device_plugin: Path
    cni: Path


@dataclass
class RunningNic:
    nic: VmNic
    nad: Nad
    device_id: str
    tap: str  # /dev/tapN
    address: str  # the guest's address on it, a.b.c.d/24
    pod_link: dict[str, Any]  # `ip -d -j link show` of the pod interface after CNI ADD

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]


@dataclass
class RunningVm:
    vm: VmObject
    node: Node
    pod: multus.Pod
    nics: list[RunningNic]
    guest: Guest
    sent_mac: bool

    def nic_on(self, network: str) -> RunningNic:
        return next(nic for nic in self.nics if nic.nad.resource_name.endswith(f"/{network}"))


@dataclass
class Dataplane:
    objects: StackObjects
    lan: Lan
    binaries: Binaries
    image: GuestImage
    accel: str
    kubelets: dict[str, Kubelet] = field(default_factory=dict)
    plugins: dict[str, Server] = field(default_factory=dict)
    vms: dict[str, RunningVm] = field(default_factory=dict)

    # --- nodes ---------------------------------------------------------------------------

    def start_nodes(self, installed: Mapping[str, Path] | None = None) -> None:
        """Install the CNI on every node, then start each node's kubelet and device plugin.

        ``installed`` (node -> binary): the CNI binary something else already installed on the
        node of that name (the e2e suite's ``pulumi up``), put in place as it is.
        """
        for node in self.lan.nodes.values():
            if installed is not None:
                node.install_cni_binary(installed[node.name])
            else:
                self.install_cni(node)
            kubelet = Kubelet(node)
            kubelet.plugin_log = node.workdir / "device-plugin.log"
            kubelet.start()
            self.kubelets[node.name] = kubelet
            self.plugins[node.name] = self._start_device_plugin(node)

    def install_cni(self, node: Node) -> None:
        """ssh mode: the plan's node script for this node; daemonset mode: the install-cni init container."""
        script = self.objects.node_scripts.get(node.name)
        if script is not None:
            self._stage_like_copy_to_remote(node, script)
            node.run(["sh", "-c", script, "node-script", "create"])
        else:
            assert self.objects.cni_install_command, (
                f"{self.objects.source} has neither a node script for {node.name} nor an install-cni init container"
            )
            # The container's hostPath volume puts the node's CNI dir at /host/opt/cni/bin, and the
            # image's binary is at /macvtap-cni: map both, then run the container's own command.
            command = [word.replace("/host/opt/cni/bin", CNI_BIN_DIR).replace(IMAGE_CNI, str(self.binaries.cni))
                       for word in self.objects.cni_install_command]  # fmt: skip
            node.run(command)

    def _stage_like_copy_to_remote(self, node: Node, script: str) -> None:
        """CopyToRemote's part: the binary at the script's STAGED_BINARY path, in the node's own staging dir."""
        staged = staged_binary(script)
        assert node.holder is not None and os.path.dirname(staged) in node.private_dirs, f"{staged} is not in a private dir of {node.name}"
        Path(f"/proc/{node.holder.pid}/root{staged}").write_bytes(self.binaries.cni.read_bytes())

    def _start_device_plugin(self, node: Node) -> Server:
        command = [str(self.binaries.device_plugin) if word == IMAGE_DEVICE_PLUGIN else word for word in self.objects.device_plugin_command]
        config = json.dumps([{"name": e.name, "lowerDevice": e.lower_device, "mode": e.mode, "capacity": e.capacity}
                             for e in self.objects.device_plugin_config])  # fmt: skip
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DP_MACVTAP_CONF": config}
        return Server(f"device-plugin-{node.name}", node.enter(command), node.workdir / "device-plugin.log", env=env)

    def wait_registered(self) -> float:
        """Every node's plugin registered every configured resource, and sent its first device list
        for each whose lower device the node has (the plugin sends none while it is missing); the
        seconds it took."""
        started = time.monotonic()
        resources = [entry.resource_name for entry in self.objects.device_plugin_config]
        for name, kubelet in self.kubelets.items():
            if not self.plugins[name].running():
                raise RuntimeError(f"the device plugin on {name} exited: {self.plugins[name].tail()}")
            kubelet.wait_for_registrations(resources, REGISTRATION_TIMEOUT)
            for entry in self.objects.device_plugin_config:
                if entry.lower_device in self.lan.nodes[name].lower_devices:
                    kubelet.wait_for_devices(entry.resource_name, lambda devices: True, REGISTRATION_TIMEOUT, "its device list")
        return time.monotonic() - started

    # --- VMs -----------------------------------------------------------------------------

    def address_of(self, vm: VmObject, nic: VmNic) -> str:
        segment = self.lan.segment_of(self.objects.entry(self.objects.nad_of(nic).resource_name).lower_device)
        return f"{segment.address(11 + [v.name for v in self.objects.vms].index(vm.name))}/24"

    def start_vm(self, name: str, node_name: str, send_mac: bool = True) -> RunningVm:
        """Schedule, allocate, CNI ADD each NIC and boot the VM on ``node_name``."""
        vm = self.objects.vm(name)
        node, kubelet = self.lan.nodes[node_name], self.kubelets[node_name]
        wanted: dict[str, list[VmNic]] = {}
        for nic in vm.nics:
            wanted.setdefault(self.objects.nad_of(nic).resource_name, []).append(nic)
        for resource, nics in wanted.items():  # the scheduler's check, before anything is taken
            kubelet.check_fits(resource, len(nics))
        device_of: dict[str, str] = {}
        taps_of: dict[str, str] = {}
        for resource, nics in wanted.items():
            ids = kubelet.take(resource, len(nics))
            response = kubelet.allocate(resource, ids)
            (container,) = response.container_responses
            for nic, device_id, spec in zip(nics, ids, container.devices, strict=True):
                device_of[nic.interface], taps_of[nic.interface] = device_id, spec.host_path
        pod = _pod(vm, self.lan.new_pod_netns(f"pod-{vm.name}"))
        order = [(nic, self.objects.nad_of(nic), device_of[nic.interface]) for nic in vm.nics]
        results = multus.add_all(node, pod, order, send_mac=send_mac)
        failed = [result for result in results if result.code != 0]
        if failed:
            self._release(vm, node_name, pod, device_of)
            raise CniError(f"CNI ADD for {vm.name} on {node_name} failed: {failed[0].error}", failed[0])
        running = []
        for nic, nad, device_id in order:
            pod_link = link(pod.netns, nic.pod_interface)
            tap = f"/dev/tap{pod_link['ifindex']}"
            # The device plugin's allocation and the CNI's interface are the same device, and the
            # /dev node is that macvtap's (nodes share one devtmpfs here: lan.IFINDEX_STRIDE).
            assert tap == taps_of[nic.interface], f"{vm.name}: allocated {taps_of[nic.interface]}, CNI made {tap}"
            assert tap_device_number(pod.netns, nic.pod_interface) == os.stat(tap).st_rdev, f"{tap} is not {nic.pod_interface}'s tap"
            running.append(RunningNic(nic, nad, device_id, tap, self.address_of(vm, nic), pod_link))
        taps = [Tap(r.tap, r.nic.mac, int(r.pod_link["mtu"]), r.address) for r in running]
        guest = Guest(vm.name, pod.netns, self.image, taps, node.workdir / "pods" / vm.name, self.accel)
        self.vms[name] = RunningVm(vm, node, pod, running, guest, send_mac)
        return self.vms[name]

    def stop_vm(self, name: str) -> list[multus.CniResult]:
        """qemu stopped, CNI DEL of every NIC, the devices released, the pod netns deleted."""
        running = self.vms.pop(name)
        running.guest.stop()
        results = multus.delete_all(running.node, running.pod, [(r.nic, r.nad, r.device_id) for r in running.nics])
        self._release(running.vm, running.node.name, running.pod, {r.nic.interface: r.device_id for r in running.nics})
        return results

    def _release(self, vm: VmObject, node_name: str, pod: multus.Pod, device_of: Mapping[str, str]) -> None:
        kubelet = self.kubelets[node_name]
        for nic in vm.nics:
            if nic.interface in device_of:
                kubelet.release(self.objects.nad_of(nic).resource_name, [device_of[nic.interface]])
        self.lan.delete_pod_netns(pod.netns)

    def wait_guests(self, names: Sequence[str] | None = None) -> None:
        for name in names or list(self.vms):
            self.vms[name].guest.wait_ready()

    # --- what the claims check -----------------------------------------------------------

    def ping(self, source: str, target_ip: str, *, size: int = 56, dont_fragment: bool = False, count: int = 2, wait: int = 2) -> bool:
        """Does ``source`` (a VM name, or "lan" for the LAN host) get replies from ``target_ip``?"""
        options = f"-c {count} -W {wait} -s {size}" + (" -M do" if dont_fragment else "")
        if source == "lan":
            done = run(["ip", "netns", "exec", self.lan.netns, "ping", *options.split(), target_ip], check=False)
            return f"{count} received" in done or " 0% packet loss" in done
        code, _ = self.vms[source].guest.run(f"/usr/bin/ping {options} {target_ip}", timeout=count * wait + 15)
        return code == 0

    def close(self) -> None:
        for name in list(self.vms):
            self.stop_vm(name)
        for server in self.plugins.values():
            server.stop()
        for kubelet in self.kubelets.values():
            kubelet.close()


def tap_device_number(netns: str, interface: str) -> int:
    """The device number of a macvtap's tap, from its sysfs entry (macvtap/tap<ifindex>/dev)."""
    text = run(["ip", "netns", "exec", netns, "sh", "-c", f"cat /sys/class/net/{interface}/macvtap/tap*/dev"]).strip()
    major, minor = (int(part) for part in text.split(":"))
    return os.makedev(major, minor)


def staged_binary(script: str) -> str:
    """The STAGED_BINARY of a plan's node script (its create branch)."""
    create = script.split("\ncreate)", 1)[1]
    return next(
        word.split("=", 1)[1] for word in shlex.split(create.split("\n", 2)[2].split(" sh -c ", 1)[0]) if word.startswith("STAGED_BINARY=")
    )


class CniError(Exception):
    def __init__(self, message: str, result: multus.CniResult) -> None:
        super().__init__(message)
        self.result = result


def _pod(vm: VmObject, netns: str) -> multus.Pod:
    """The virt-launcher pod's identity; names are deterministic per VM (the real ones are random)."""
    digest = hashlib.sha256(f"{vm.namespace}/{vm.name}".encode()).hexdigest()
    uid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    return multus.Pod(vm.namespace, f"virt-launcher-{vm.name}-{digest[32:37]}", uid, digest[:64], netns)
