"""Throwaway OpenSSH servers on 127.0.0.1 that stand in for cluster nodes.

Each server runs ``/usr/sbin/sshd -D -e -f <own config>`` as a subprocess with
its own ed25519 host key, client key, authorized_keys and PID file in a temp
dir, and is stopped by PID afterwards (also when the test fails).

Use the ``ssh_nodes`` fixture (two nodes) by importing it into a test module
(``from tests.sshd import ssh_nodes``) or with ``pytest_plugins = ["tests.sshd"]``
in conftest.py; ``run_on`` runs a command string over real SSH with the host
key pinned, ``copy_to`` stands in for ``remote.CopyToRemote``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class SshNode:
    name: str
    host: str
    port: int
    user: str
    client_key_path: Path
    host_public_key: str  # "ssh-ed25519 AAAA..." (no comment)
    known_hosts: Path  # holds only this node's pinned host key
    cni_bin_dir: Path  # sandbox stand-in for /opt/cni/bin (not created)
    staging_dir: Path  # sandbox directory for staged binaries (not created)
    workdir: Path  # everything of this node lives below it

    @property
    def client_private_key(self) -> str:
        return self.client_key_path.read_text(encoding="ascii")

    def known_hosts_line(self, public_key: str | None = None) -> str:
        return f"[{self.host}]:{self.port} {public_key or self.host_public_key}\n"


def ensure_sshd() -> None:
    """Install openssh-server with apt-get if sshd is missing."""
    if Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ssh-keygen"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "openssh-server", "openssh-client"],
        check=True,
        env=env,
        capture_output=True,
    )


def new_keypair(path: Path, comment: str) -> str:
    """Create an ed25519 key pair at path; return the public key without comment."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    key_type, key_b64 = path.with_suffix(".pub").read_text(encoding="ascii").split()[:2]
    return f"{key_type} {key_b64}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited ({proc.returncode}): {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not accept on port {port}: {log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # SIGTERM to this PID only
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def sshd_config(workdir: Path, port: int, *extra: str) -> str:
    """An sshd config for one test node below workdir: key login only, its own host key and files."""
    lines = [
        f"ListenAddress {HOST}:{port}",
        f"HostKey {workdir / 'host_ed25519'}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        "UseDNS no",
        "LogLevel VERBOSE",
        *extra,
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def running_sshd(workdir: Path, name: str) -> Iterator[SshNode]:
    """Run one sshd for the current user below workdir; yield it as a node."""
    ensure_sshd()
    workdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
    host_public_key = new_keypair(workdir / "host_ed25519", f"{name}-host")
    client_public_key = new_keypair(workdir / "client_ed25519", f"{name}-client")
    (workdir / "authorized_keys").write_text(client_public_key + "\n", encoding="ascii")
    log = workdir / "sshd.log"
    for _attempt in range(5):  # free_port() can race with other processes
        port = free_port()
        config = workdir / "sshd_config"
        config.write_text(sshd_config(workdir, port), encoding="ascii")
        with log.open("ab") as log_file:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        try:
            _wait_for_port(proc, port, log)
            break
        except RuntimeError:
            _stop(proc)
            if "Address already in use" not in log.read_text():
                raise
    else:
        raise RuntimeError(f"could not start sshd: {log.read_text()}")
    try:
        node = SshNode(
            name=name,
            host=HOST,
            port=port,
            user=getpass.getuser(),
            client_key_path=workdir / "client_ed25519",
            host_public_key=host_public_key,
            known_hosts=workdir / "known_hosts",
            cni_bin_dir=workdir / "opt-cni-bin",
            staging_dir=workdir / "staging",
            workdir=workdir,
        )
        node.known_hosts.write_text(node.known_hosts_line(), encoding="ascii")
        yield node
    finally:
        _stop(proc)


def ssh_argv(node: SshNode, command: str, *, known_hosts: Path | None = None) -> list[str]:
    return [
        "ssh",
        "-F", "/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts or node.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "ConnectTimeout=10",
        "-i", str(node.client_key_path),
        "-p", str(node.port),
        f"{node.user}@{node.host}",
        command,
    ]  # fmt: skip


def run_on(
    node: SshNode,
    command: str,
    *,
    known_hosts: Path | None = None,
    stdin: bytes | None = None,
    timeout: float = 60,
) -> tuple[int, str, str]:
    """Run command (one string, parsed by the remote login shell) on node over SSH."""
    result = subprocess.run(
        ssh_argv(node, command, known_hosts=known_hosts),
        input=stdin if stdin is not None else b"",
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    return (
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def copy_to(node: SshNode, content: bytes, remote_path: str) -> None:
    """Write content to remote_path on node, creating parent dirs (like CopyToRemote)."""
    parent = remote_path.rsplit("/", 1)[0] or "/"
    command = f"mkdir -p {shlex.quote(parent)} && cat > {shlex.quote(remote_path)}"
    code, _out, err = run_on(node, command, stdin=content)
    if code != 0:
        raise RuntimeError(f"copy to {node.name}:{remote_path} failed ({code}): {err}")


def processes_matching(text: str) -> list[int]:
    """PIDs whose command line contains text (pgrep -f; '.' is escaped, keep text plain)."""
    pattern = text.replace(".", "[.]")
    result = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True, check=False)
    return [int(pid) for pid in result.stdout.split()]


@pytest.fixture
def ssh_nodes(tmp_path: Path) -> Iterator[tuple[SshNode, SshNode]]:
    """Two sshd 'nodes' (node-a, node-b) with sandbox CNI and staging dirs."""
    with (
        running_sshd(tmp_path / "node-a", "node-a") as node_a,
        running_sshd(tmp_path / "node-b", "node-b") as node_b,
    ):
        yield node_a, node_b
    leftovers = processes_matching(str(tmp_path))
    assert not leftovers, f"sshd processes left running: {leftovers}"
