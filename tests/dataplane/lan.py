"""The nodes and their L2 network, in network namespaces the suite makes and deletes itself.

One LAN namespace holds a Linux bridge per *segment*: every distinct ``lowerDevice`` of the
stack's device-plugin config is one physical L2 network (``eno2`` and ``eno3`` of the lab stack
are two). Each node is a network namespace with a veth named exactly as that lower device; its
peer is a port of the segment's bridge. The LAN host is the bridge's own address, one per
segment, so "the LAN" is reachable from every VM without any address or route in the root
namespace.

A node also has its own mount namespace (``ip netns exec`` makes one, a slave of the root's):
a tmpfs at ``/opt/cni/bin`` and the kubelet's device-plugin directory at its real path,
``/var/lib/kubelet/device-plugins``, bound from a directory of the suite, where the suite plays
the kubelet's registration socket. A process runs "on the node" through ``nsenter`` into both
namespaces of the node's holder process.

Everything is named with one run prefix, and ``Lan.close`` removes it all by name or PID (also
after a failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.processes import Server

KUBELET_DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
CNI_BIN_DIR = "/opt/cni/bin"
# The LAN's addresses: segment i is 10.77.i.0/24, its LAN host .1 (documentation-only space
# would do too, but these never leave the suite's own namespaces).
SUBNET_PREFIX = "10.77"
LAN_HOST_OCTET = 1
# All nodes share this machine's kernel, and so one devtmpfs: /dev/tap<ifindex> of two nodes
# would collide where a real cluster has a kernel per node. The kernel hands out ifindexes per
# network namespace, cyclically, so node k first takes (k-1) * IFINDEX_STRIDE indexes with down
# bridges that nothing uses; each node then makes its macvtaps in its own range.
IFINDEX_STRIDE = 100


def run(argv: Sequence[str], *, check: bool = True, input_text: str | None = None, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False, input=input_text, env=dict(env) if env else None)
    if check and done.returncode != 0:
        shown = " ".join(word if len(word) < 80 else word[:60] + "..." for word in argv)
        raise RuntimeError(f"`{shown}` exited {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def links(netns: str) -> list[dict[str, Any]]:
    """``ip -d -j link show`` in a namespace: name, ifindex, address, mtu, promiscuity, kind..."""
    result: list[dict[str, Any]] = json.loads(run(["ip", "-n", netns, "-d", "-j", "link", "show"]) or "[]")
    return result


def link(netns: str, name: str) -> dict[str, Any]:
    found = [entry for entry in links(netns) if entry.get("ifname") == name]
    if not found:
        raise LookupError(f"no link {name} in netns {netns}")
    return found[0]


@dataclass(frozen=True)
class Segment:
    """One L2 network: the lower device every node has on it, its bridge and its subnet."""

    index: int
    lower_device: str
    mtu: int
    vepa: bool  # some network on it is in VEPA mode: the bridge ports can reflect (hairpin)

    @property
    def bridge(self) -> str:
        return f"lan{self.index}"

    @property
    def subnet(self) -> str:
        return f"{SUBNET_PREFIX}.{self.index}"

    @property
    def lan_host(self) -> str:
        return f"{self.subnet}.{LAN_HOST_OCTET}"

    def address(self, host: int) -> str:
        return f"{self.subnet}.{host}"


@dataclass
class Node:
    """One Kubernetes node: a network namespace, a mount namespace, its lower devices."""

    name: str
    netns: str
    workdir: Path  # device-plugins/ (bound at the kubelet's path), the node's files
    private_dirs: tuple[str, ...] = ()  # a tmpfs of its own at each of these real paths
    holder: Server | None = None
    lower_devices: set[str] = field(default_factory=set)  # the segments' devices it has

    @property
    def device_plugin_dir(self) -> Path:
        """The node's /var/lib/kubelet/device-plugins, as seen from the root namespace."""
        return self.workdir / "device-plugins"

    def enter(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this node's network and mount namespaces."""
        assert self.holder is not None, f"node {self.name} is not started"
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--net", "--", *argv]

    def run(self, argv: Sequence[str], **kwargs: Any) -> str:
        return run(self.enter(argv), **kwargs)

    def install_cni_binary(self, binary: Path) -> None:
        """Put the CNI binary at /opt/cni/bin/macvtap on this node, as the install would."""
        staged = self.workdir / "macvtap"
        shutil.copyfile(binary, staged)
        staged.chmod(0o755)
        self.run(["sh", "-c", f"cp {staged} {CNI_BIN_DIR}/.macvtap.tmp && mv -f {CNI_BIN_DIR}/.macvtap.tmp {CNI_BIN_DIR}/macvtap"])


@dataclass
class Lan:
    """The LAN namespace with one bridge per segment, and the nodes plugged into it."""

    prefix: str
    workdir: Path
    segments: list[Segment]
    private_dirs: tuple[str, ...] = (CNI_BIN_DIR,)  # each node has its own tmpfs at these paths
    nodes: dict[str, Node] = field(default_factory=dict)
    pods: list[str] = field(default_factory=list)  # pod netns created through new_pod_netns

    @property
    def netns(self) -> str:
        return f"{self.prefix}-lan"

    def segment_of(self, lower_device: str) -> Segment:
        return next(segment for segment in self.segments if segment.lower_device == lower_device)

    # --- building ------------------------------------------------------------------------

    def start(self) -> None:
        run(["ip", "netns", "add", self.netns])
        run(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        for segment in self.segments:
            bridge = segment.bridge
            run(["ip", "-n", self.netns, "link", "add", bridge, "mtu", str(segment.mtu), "type", "bridge"])
            run(["ip", "-n", self.netns, "addr", "add", f"{segment.lan_host}/24", "dev", bridge])
            run(["ip", "-n", self.netns, "link", "set", bridge, "up"])

    def add_node(self, name: str, missing: Sequence[str] = ()) -> Node:
        """A node with a veth per segment, named as the segment's lower device (except ``missing``)."""
        index = len(self.nodes) + 1
        node = Node(name, f"{self.prefix}-{name}", self.workdir / name, self.private_dirs)
        node.device_plugin_dir.mkdir(parents=True)
        run(["ip", "netns", "add", node.netns])
        run(["ip", "-n", node.netns, "link", "set", "lo", "up"])
        self.nodes[name] = node
        # Each path must exist as a mount point on the host; nothing is written into it there.
        for path in (KUBELET_DEVICE_PLUGIN_DIR, *self.private_dirs):
            Path(path).mkdir(parents=True, exist_ok=True)
        mounts = [f"mount --bind {node.device_plugin_dir} {KUBELET_DEVICE_PLUGIN_DIR}"]
        mounts += [f"mount -t tmpfs -o mode=0755 kvm-dataplane-{name} {path}" for path in self.private_dirs]
        script = " && ".join([*mounts, "exec sleep infinity"])
        node.holder = Server(f"{name}-holder", ["ip", "netns", "exec", node.netns, "sh", "-c", script], node.workdir / "holder.log")
        node.holder.wait_until(lambda: _mounted(node.holder, self.private_dirs[-1]), 10, f"{self.private_dirs[-1]} mounted")
        pads = "".join(f"link add pad{pad} type bridge\n" for pad in range((index - 1) * IFINDEX_STRIDE))
        if pads:
            run(["ip", "-n", node.netns, "-batch", "-"], input_text=pads)
        for segment in self.segments:
            if segment.lower_device not in missing:
                self.plug(node, segment, index)
        return node

    def plug(self, node: Node, segment: Segment, node_index: int | None = None) -> None:
        """Give ``node`` its lower device on ``segment`` (a veth whose peer is a bridge port)."""
        number = node_index or list(self.nodes).index(node.name) + 1
        peer = f"n{number}s{segment.index}"
        # Created in the two namespaces directly: no link ever exists in the root namespace.
        run(["ip", "link", "add", segment.lower_device, "mtu", str(segment.mtu), "netns", node.netns, "type", "veth", "peer", "name",
             peer, "mtu", str(segment.mtu), "netns", self.netns])  # fmt: skip
        run(["ip", "-n", node.netns, "link", "set", segment.lower_device, "up"])
        run(["ip", "-n", self.netns, "link", "set", peer, "master", segment.bridge])
        run(["ip", "-n", self.netns, "link", "set", peer, "up"])
        self.set_hairpin(segment, segment.vepa, ports=[peer])
        node.lower_devices.add(segment.lower_device)

    def set_hairpin(self, segment: Segment, on: bool, ports: Sequence[str] | None = None) -> None:
        """Reflective relay on the bridge ports of a segment: what a VEPA network needs from its switch."""
        for port in ports if ports is not None else self.ports(segment):
            run(["bridge", "-n", self.netns, "link", "set", "dev", port, "hairpin", "on" if on else "off"])

    def ports(self, segment: Segment) -> list[str]:
        return [entry["ifname"] for entry in links(self.netns) if entry.get("master") == segment.bridge]

    def new_pod_netns(self, name: str) -> str:
        """An empty network namespace for one pod (the macvtap keeps its ifindex there)."""
        netns = f"{self.prefix}-{name}"
        run(["ip", "netns", "add", netns])
        run(["ip", "-n", netns, "link", "set", "lo", "up"])
        self.pods.append(netns)
        return netns

    def delete_pod_netns(self, netns: str) -> None:
        if netns in self.pods:
            self.pods.remove(netns)
        if netns_exists(netns):
            run(["ip", "netns", "del", netns], check=False)

    # --- teardown ------------------------------------------------------------------------

    def close(self) -> list[str]:
        """Stop every holder by PID and delete every namespace by name; return what was left."""
        for node in self.nodes.values():
            if node.holder is not None:
                node.holder.stop()
        for netns in [*self.pods, *(node.netns for node in self.nodes.values()), self.netns]:
            if netns_exists(netns):
                run(["ip", "netns", "del", netns], check=False)
        self.pods.clear()
        return leftovers(self.prefix)


def _mounted(holder: Server | None, path: str) -> bool:
    assert holder is not None
    return f" {path} " in Path(f"/proc/{holder.pid}/mounts").read_text()


def leftovers(prefix: str) -> list[str]:
    """Namespaces with the run prefix still present, and links in the root namespace named by it."""
    names = [f"netns {name}" for name in run(["ip", "netns", "list"]).split() if name.startswith(prefix)]
    return names


def segments_for(lower_devices: Mapping[str, tuple[int, bool]]) -> list[Segment]:
    """Segments in name order: lower device -> (largest MTU its networks need, some network is VEPA)."""
    return [Segment(index, device, mtu, vepa) for index, (device, (mtu, vepa)) in enumerate(sorted(lower_devices.items()))]


@contextlib.contextmanager
def running_lan(
    lower_devices: Mapping[str, tuple[int, bool]], nodes: Mapping[str, Sequence[str]], private_dirs: Sequence[str] = ()
) -> Iterator[Lan]:
    """A LAN with its segments and nodes (node -> lower devices it lacks), removed afterwards.

    Every node has its own tmpfs at /opt/cni/bin and at each of ``private_dirs`` (a staging dir).
    """
    workdir = Path(tempfile.mkdtemp(prefix="kvmdp-"))  # short: unix socket paths have 108 bytes
    workdir.chmod(0o755)  # qemu runs as uid 107 below it
    dirs = (CNI_BIN_DIR, *(d for d in private_dirs if d != CNI_BIN_DIR))
    lan = Lan(f"kvmdp{secrets.token_hex(3)}", workdir, segments_for(lower_devices), dirs)
    try:
        lan.start()
        for name, missing in nodes.items():
            lan.add_node(name, missing)
        yield lan
    finally:
        left = lan.close()
        shutil.rmtree(workdir, ignore_errors=True)
        if left:
            raise RuntimeError(f"the dataplane left {', '.join(left)} behind")
        assert not os.path.exists(workdir)
