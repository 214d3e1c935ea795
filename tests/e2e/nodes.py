"""Two sshd "nodes" on 127.0.0.1, each in its own mount namespace.

``unshare -m`` with a tmpfs over the CNI bin dir and over the staging dir gives each node its
own ``/opt/cni/bin`` and ``/var/tmp/kvm-in-a-pod`` at the real paths, so the two installs are
truly independent, and a restarted node is a fresh one (empty tmpfs). Each sshd is one PID
(``unshare`` execs ``sh``, which execs ``sshd``) and is stopped by it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.processes import HOST, Server, free_port, port_open
from tests.sshd import SSHD, SshNode, ensure_sshd, new_keypair, run_on, sshd_config

CNI_BIN_DIR = "/opt/cni/bin"
STAGING_DIR = "/var/tmp/kvm-in-a-pod"


@dataclass
class Node:
    name: str
    workdir: Path
    port: int = field(default_factory=free_port)
    server: Server | None = None
    host_public_key: str = ""

    @property
    def client_key(self) -> Path:
        return self.workdir / "client_ed25519"

    def prepare(self) -> None:
        ensure_sshd()
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for directory in (CNI_BIN_DIR, STAGING_DIR):
            Path(directory).mkdir(parents=True, exist_ok=True)
        self.host_public_key = new_keypair(self.workdir / "host_ed25519", f"{self.name}-host")
        client_public_key = new_keypair(self.client_key, f"{self.name}-client")
        (self.workdir / "authorized_keys").write_text(client_public_key + "\n")
        # remote.CopyToRemote copies over SFTP.
        (self.workdir / "sshd_config").write_text(sshd_config(self.workdir, self.port, "Subsystem sftp internal-sftp"))

    def start(self) -> None:
        """Start sshd in a new mount namespace with empty tmpfs CNI and staging dirs."""
        mounts = " && ".join(f"mount -t tmpfs -o mode=0755 kvm-e2e-{self.name} {shlex.quote(d)}" for d in (CNI_BIN_DIR, STAGING_DIR))
        script = f"{mounts} && exec {SSHD} -D -e -f {shlex.quote(str(self.workdir / 'sshd_config'))}"
        self.server = Server(self.name, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], self.workdir / "sshd.log")
        self.server.wait_until(lambda: port_open(self.port), 15, f"port {self.port} open")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def ssh(self, command: str) -> tuple[int, str]:
        """Run a command on the node (inside its namespace) over SSH; (exit code, output)."""
        known_hosts = self.workdir / "known_hosts"
        known_hosts.write_text(f"[{HOST}]:{self.port} {self.host_public_key}\n")
        view = SshNode(self.name, HOST, self.port, "root", self.client_key, self.host_public_key, known_hosts,
                       Path(CNI_BIN_DIR), Path(STAGING_DIR), self.workdir)  # fmt: skip
        code, out, err = run_on(view, command)
        return code, out + err

    def path_on_node(self, path: str) -> Path:
        """``path`` as this node sees it (its own tmpfs mounts), read from the root namespace."""
        assert self.server is not None, f"{self.name} is not running"
        return Path(f"/proc/{self.server.pid}/root{path}")

    def config_entry(self) -> dict[str, object]:
        return {"name": self.name, "host": HOST, "port": self.port, "user": "root", "hostKey": self.host_public_key}


def same_client_key(nodes: list[Node]) -> str:
    """Both nodes accept one client key (a stack has one sshPrivateKey): the first node's."""
    import shutil

    first = nodes[0]
    public = (first.workdir / "client_ed25519.pub").read_text().split()[:2]
    for node in nodes[1:]:
        (node.workdir / "authorized_keys").write_text(" ".join(public) + "\n")
        # ssh offers the key in `<key>.pub`: the pair travels together.
        shutil.copy2(first.client_key, node.client_key)
        shutil.copy2(first.client_key.with_suffix(".pub"), node.client_key.with_suffix(".pub"))
    return first.client_key.read_text()


def require_root() -> str | None:
    if os.geteuid() != 0:
        return "the e2e nodes need root (unshare -m, tmpfs mounts over /opt/cni/bin)"
    return None


@dataclass(frozen=True)
class HostInterface:
    name: str
    mtu: int


def host_interface() -> HostInterface | None:
    """An Ethernet interface of the root namespace, for the stack's ``lowerDevice``: the sshd nodes
    share this namespace, so their install preflight checks it there, MTU included (NIC MTUs must
    not exceed it), and the dataplane step gives its own nodes a veth of that name. One that is
    up first; None if there is none."""
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True).stdout)
    ether = [link for link in links if link.get("link_type") == "ether" and len(link["ifname"]) <= 15]
    ether.sort(key=lambda link: (link.get("operstate") != "UP", link["ifindex"]))
    return HostInterface(ether[0]["ifname"], int(ether[0]["mtu"])) if ether else None
