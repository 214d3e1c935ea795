"""ssh mode: what each node actually has installed, read before the install resources are registered.

The command provider runs a ``remote.Command`` only when its inputs change, so a node whose binary
is deleted or replaced by hand would stay broken while ``pulumi preview`` says "no changes". So
the program itself looks, in ``preview`` and in ``up`` alike, over the same pinned SSH connection,
read-only and without sudo: the sha256 of ``<cniBinDir>/macvtap`` and the *install token* the last
install wrote to ``<stagingDir>/install-token``.

The token is what ties the node to the state: it is the install's ``stdin`` and a trigger of the
copy. A node that has the expected binary keeps the token it has, so its resources do not change.
A node that does not (binary missing, replaced, or a fresh node) gets a new token derived from
what was found; the copy is then redone and the install runs again, and writes that token, so the
next run finds the node as the state has it and a preview shows no change.

A node that cannot be reached within ``TIMEOUT_SECONDS`` is reported with one warning naming it,
and its token is taken from the state as it is (``NodeCniInstall`` ignores the token's change).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import shlex
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import paramiko

from components.config import Node

# A node that does not answer is reported once, by this program, with its name: paramiko's own
# "Error reading SSH protocol banner" log lines would only repeat it.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

TOKEN_FILE = "install-token"
TOKEN = re.compile(r"[0-9a-z-]{1,64}")
# Connect, authenticate and run, each bounded: a node that does not answer costs at most this much,
# and all nodes are looked at in parallel.
TIMEOUT_SECONDS = 10.0
# What a node gets in the offline plan and the unit tests, where no node is contacted.
NOT_CHECKED_TOKEN = "not-checked"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Installed:
    """What a node has: the installed binary's sha256 (None: none) and the last install's token."""

    binary_sha256: str | None
    token: str | None


@dataclass(frozen=True)
class Unreachable:
    reason: str


@dataclass(frozen=True)
class NotChecked:
    """No node is contacted (the offline plan, the unit tests)."""


Finding = Installed | Unreachable | NotChecked


def probe_command(cni_bin_dir: str, staging_dir: str) -> str:
    """Read-only: one line with the binary's sha256 (or nothing), one with the token (or nothing)."""
    binary = shlex.quote(f"{cni_bin_dir.rstrip('/')}/macvtap")
    token = shlex.quote(f"{staging_dir.rstrip('/')}/{TOKEN_FILE}")
    return f"sum=$(sha256sum < {binary} 2>/dev/null) || sum=; printf '%s\\n' \"${{sum%% *}}\"; head -c 64 {token} 2>/dev/null; echo"


def parse_probe_output(output: str) -> Installed:
    lines = [*output.splitlines(), "", ""]
    binary, token = lines[0].strip(), lines[1].strip()
    return Installed(binary if _SHA256.fullmatch(binary) else None, token if TOKEN.fullmatch(token) else None)


def install_token(found: Installed, binary_sha256: str) -> str:
    """The token the node's install resources carry: its own when it has the expected binary and a
    token, else a new one made from what was found (the same in a preview and the ``up`` after it)."""
    if found.binary_sha256 == binary_sha256 and found.token is not None:
        return found.token
    seen = f"{binary_sha256}:{found.binary_sha256 or 'none'}:{found.token or 'none'}"
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


def probe_over_ssh(node: Node, private_key: str, cni_bin_dir: str, staging_dir: str, timeout: float = TIMEOUT_SECONDS) -> Finding:
    """Connect as the install does (the node's user, the stack's key, the pinned host key) and read."""
    client = paramiko.SSHClient()
    if node.host_key is not None:
        key_type, key_data = node.host_key.split()[:2]
        name = node.host if node.port == 22 else f"[{node.host}]:{node.port}"
        client.get_host_keys().add(name, key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data)))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        # As the command provider does without a hostKey: any server key is accepted.
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            node.host,
            port=node.port,
            username=node.user,
            pkey=_private_key(private_key),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
        _, stdout, _ = client.exec_command(probe_command(cni_bin_dir, staging_dir), timeout=timeout)
        return parse_probe_output(stdout.read().decode(errors="replace"))
    except (OSError, paramiko.SSHException) as error:
        return Unreachable(_reason(error, node, timeout))
    finally:
        client.close()


def _private_key(text: str) -> paramiko.PKey:
    """The stack's key, whichever of the key types the command provider accepts it is."""
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except paramiko.SSHException:
            continue
    raise paramiko.SSHException("sshPrivateKey is not an Ed25519, ECDSA or RSA private key that this program can read")


def _reason(error: BaseException, node: Node, timeout: float) -> str:
    if isinstance(error, paramiko.BadHostKeyException):
        return "its SSH host key is not the pinned hostKey"
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return f"nothing accepts connections at {node.host}:{node.port}"
    if isinstance(error, TimeoutError) or "banner" in str(error) or "timed out" in str(error).lower():
        return f"no SSH answer from {node.host}:{node.port} within {timeout:g} s"
    if "No existing session" in str(error):  # the transport ended before login (paramiko)
        return f"no SSH session with {node.host}:{node.port}: the server did not answer, or closed the connection"
    if isinstance(error, paramiko.AuthenticationException):
        return f"sshPrivateKey is not accepted for user {node.user}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


Prober = Callable[[Sequence[Node], str, str, str], dict[str, Finding]]


def probe_all(nodes: Sequence[Node], private_key: str, cni_bin_dir: str, staging_dir: str) -> dict[str, Finding]:
    """Every node at once (node name -> what was found)."""
    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(nodes)), thread_name_prefix="node-probe") as pool:
        found = pool.map(lambda node: probe_over_ssh(node, private_key, cni_bin_dir, staging_dir), nodes)
        return {node.name: finding for node, finding in zip(nodes, found, strict=True)}


def not_checked(nodes: Sequence[Node], private_key: str, cni_bin_dir: str, staging_dir: str) -> dict[str, Finding]:
    del private_key, cni_bin_dir, staging_dir
    return {node.name: NotChecked() for node in nodes}


_prober: Prober = probe_all


def prober() -> Prober:
    """How this run reads the nodes: over SSH, unless a harness said otherwise (``using``)."""
    return _prober


@contextmanager
def using(chosen: Prober) -> Iterator[None]:
    """For the recording engine: the program runs with ``chosen`` (``not_checked``: no node is contacted)."""
    global _prober
    previous, _prober = _prober, chosen
    try:
        yield
    finally:
        _prober = previous
