"""Claims about reading what a node has installed (``components/node_probe.py``), the ssh-mode drift check.

Against real sshd processes on 127.0.0.1 (tests/sshd.py), with the install scripts the program sends:

1. The probe reads the installed binary's sha256 and the install token that the install wrote
   from its stdin.
2. A node without the binary reads as "no binary" (its token, if any, is still read).
3. The probe connects as the install does and refuses a server whose host key is not the
   pinned one.
4. A node that does not answer (nothing listening, or a server that never speaks) is
   "unreachable" with a reason, after a bounded wait, never a hang.
5. The token a node keeps: its own when it has the expected binary and a token; else a new one,
   the same for the same finding (a preview and the update after it agree), different for a
   different finding.
6. The install refuses a malformed token on stdin and leaves the binary as it was; the uninstall
   removes the token with our binary.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.config import Node
from components.node_commands import NodeInstallSpec, install_command, staged_binary_path, uninstall_command
from components.node_probe import TOKEN_FILE, Installed, Unreachable, install_token, probe_over_ssh
from tests.sshd import SshNode, copy_to, run_on, ssh_nodes

__all__ = ["ssh_nodes"]

BINARY = b"#!/bin/sh\necho probe test\n"
SHA = hashlib.sha256(BINARY).hexdigest()


def as_config(node: SshNode, host_key: str | None = None) -> Node:
    return Node(name=node.name, host=node.host, port=node.port, user=node.user, hostKey=host_key or node.host_public_key)


def spec_of(node: SshNode) -> NodeInstallSpec:
    return NodeInstallSpec(node.name, staged_binary_path(str(node.staging_dir), SHA), SHA, str(node.cni_bin_dir), (), False)


def installed(node: SshNode, token: str) -> NodeInstallSpec:
    spec = spec_of(node)
    copy_to(node, BINARY, spec.staged_binary)
    code, _out, err = run_on(node, install_command(spec), stdin=f"{token}\n".encode())
    assert code == 0, err
    return spec


def probe(node: SshNode, **kwargs: object) -> object:
    return probe_over_ssh(as_config(node), node.client_private_key, str(node.cni_bin_dir), str(node.staging_dir), **kwargs)  # type: ignore[arg-type]


def test_the_probe_reads_the_installed_binary_and_the_token_the_install_wrote(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    installed(node, "3f0c9a1b2d4e6f70")
    assert (node.staging_dir / TOKEN_FILE).read_text() == "3f0c9a1b2d4e6f70\n"
    assert probe(node) == Installed(SHA, "3f0c9a1b2d4e6f70")


def test_a_node_without_the_binary_reads_as_no_binary(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, other = ssh_nodes
    installed(node, "3f0c9a1b2d4e6f70")
    (node.cni_bin_dir / "macvtap").unlink()
    assert probe(node) == Installed(None, "3f0c9a1b2d4e6f70")
    assert probe(other) == Installed(None, None)


def test_the_probe_refuses_a_server_whose_host_key_is_not_the_pinned_one(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, other = ssh_nodes
    wrong = as_config(node, host_key=other.host_public_key)
    found = probe_over_ssh(wrong, node.client_private_key, str(node.cni_bin_dir), str(node.staging_dir))
    assert found == Unreachable("its SSH host key is not the pinned hostKey")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says anything."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_node_that_never_answers_is_unreachable_after_a_bounded_wait(ssh_nodes: tuple[SshNode, SshNode], silent_server: int) -> None:
    node, _ = ssh_nodes
    silent = Node(name="node09", host="127.0.0.1", port=silent_server, user="root", hostKey=node.host_public_key)
    found = probe_over_ssh(silent, node.client_private_key, "/opt/cni/bin", "/var/tmp/kvm-in-a-pod", timeout=1.0)
    assert isinstance(found, Unreachable) and f"127.0.0.1:{silent_server}" in found.reason, found
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    refused = Node(name="node10", host="127.0.0.1", port=port, user="root", hostKey=node.host_public_key)
    found = probe_over_ssh(refused, node.client_private_key, "/opt/cni/bin", "/var/tmp/kvm-in-a-pod", timeout=1.0)
    assert found == Unreachable(f"nothing accepts connections at 127.0.0.1:{port}")


def test_the_token_a_node_keeps() -> None:
    assert install_token(Installed(SHA, "3f0c9a1b2d4e6f70"), SHA) == "3f0c9a1b2d4e6f70"
    missing, replaced, fresh = Installed(None, "3f0c9a1b2d4e6f70"), Installed("0" * 64, "3f0c9a1b2d4e6f70"), Installed(None, None)
    new_tokens = {install_token(found, SHA) for found in (missing, replaced, fresh, Installed(SHA, None))}
    assert len(new_tokens) == 4 and "3f0c9a1b2d4e6f70" not in new_tokens
    assert install_token(missing, SHA) == install_token(Installed(None, "3f0c9a1b2d4e6f70"), SHA)


def test_the_install_refuses_a_malformed_token_and_the_uninstall_removes_the_token(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    spec = installed(node, "3f0c9a1b2d4e6f70")
    code, _out, err = run_on(node, install_command(spec), stdin=b"bad token; rm -rf /\n")
    assert code != 0 and "the install token on stdin must be" in err
    assert (node.cni_bin_dir / "macvtap").read_bytes() == BINARY
    assert (node.staging_dir / TOKEN_FILE).read_text() == "3f0c9a1b2d4e6f70\n"
    code, _out, err = run_on(node, uninstall_command(spec))
    assert code == 0, err
    assert not (node.cni_bin_dir / "macvtap").exists() and not (node.staging_dir / TOKEN_FILE).exists()


def test_the_probe_sends_nothing_that_changes_the_node(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    installed(node, "3f0c9a1b2d4e6f70")
    before = {path: path.read_bytes() for path in sorted(Path(node.workdir).rglob("*")) if path.is_file() and "sshd" not in path.name}
    assert probe(node) == Installed(SHA, "3f0c9a1b2d4e6f70")
    after = {path: path.read_bytes() for path in sorted(Path(node.workdir).rglob("*")) if path.is_file() and "sshd" not in path.name}
    assert after == before
