"""Command strings that install / uninstall the macvtap CNI binary on a node.

components/node_cni.py registers exactly these strings as the ``create`` and
``delete`` of a ``pulumi_command.remote.Command``. Format (one line)::

    [sudo -n ]env NODE_NAME=<q> STAGED_BINARY=<q> BINARY_SHA256=<q> CNI_BIN_DIR=<q> \
        sh -c '<script>' install-macvtap-cni [<lower device>[:<minimum MTU>]...]

Every value goes through ``shlex.quote``; the script text comes verbatim from
``node_scripts/*.sh`` and only reads its inputs as variables and positional
parameters (lower devices are ``"$@"``, so no word splitting). ``env`` after
``sudo -n`` sets the variables for the root process whatever sudo's
``env_reset`` policy is. The string is parsed by the SSH user's login shell:
it must be a POSIX-family shell (sh, dash, bash, zsh, ksh), not csh or fish.

``install_command`` only rejects what would make the script unusable (bad
sha256, relative paths, bad interface names, NUL). The stricter policy for
configuration values lives in the validation helpers below (``INTERFACE_NAME``,
``DNS1123_LABEL``, ``SHA256_HEX``, ``is_safe_absolute_path``,
``validation_errors``); use the regexes with ``fullmatch``.
"""

from __future__ import annotations

import functools
import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent / "node_scripts"
INSTALL_NAME = "install-macvtap-cni"
UNINSTALL_NAME = "uninstall-macvtap-cni"

DNS1123_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
# Linux ifname: 1-15 chars; stricter than the kernel; "." and ".." are invalid.
INTERFACE_NAME = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9_.-]{1,15}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./-]+")


@dataclass(frozen=True)
class NodeInstallSpec:
    node_name: str  # DNS-1123 label, used only in messages
    staged_binary: str  # absolute path where CopyToRemote put the binary on the node
    binary_sha256: str  # lowercase hex sha256 of the binary
    cni_bin_dir: str  # absolute dir; production /opt/cni/bin; tests a sandbox dir
    lower_devices: tuple[str, ...]  # Linux interface names that must exist on the node
    use_sudo: bool  # True when the SSH user is not root: prefix `sudo -n`
    # (lower device, the MTU it must have at least): what the networks on it carry or their NICs ask for.
    minimum_mtus: tuple[tuple[str, int], ...] = ()


def is_safe_absolute_path(path: str) -> bool:
    """Absolute, normalised (no ``..``, ``.``, ``//``, trailing ``/``), not ``/``, only ``[A-Za-z0-9_./-]``."""
    return _SAFE_PATH.fullmatch(path) is not None and not path.startswith("//") and posixpath.normpath(path) == path


def validation_errors(spec: NodeInstallSpec) -> list[str]:
    """Strict configuration check of a spec; an empty list means valid."""
    errors: list[str] = []
    if not DNS1123_LABEL.fullmatch(spec.node_name):
        errors.append(f"node name {spec.node_name!r} is not a DNS-1123 label")
    for field in ("staged_binary", "cni_bin_dir"):
        value = getattr(spec, field)
        if not is_safe_absolute_path(value):
            errors.append(f"{field} {value!r} is not a safe absolute path")
    if not SHA256_HEX.fullmatch(spec.binary_sha256):
        errors.append(f"binary_sha256 {spec.binary_sha256!r} is not a lowercase hex sha256")
    for dev in spec.lower_devices:
        if not INTERFACE_NAME.fullmatch(dev):
            errors.append(f"lower device {dev!r} is not a valid interface name")
    return errors


def staged_binary_path(staging_dir: str, binary_sha256: str) -> str:
    """Where CopyToRemote should put the binary: one file per content hash."""
    if not SHA256_HEX.fullmatch(binary_sha256):
        raise ValueError(f"not a lowercase hex sha256: {binary_sha256!r}")
    if not staging_dir.startswith("/"):
        raise ValueError(f"staging dir must be absolute: {staging_dir!r}")
    return f"{staging_dir.rstrip('/')}/macvtap-cni-{binary_sha256[:16]}"


def install_command(spec: NodeInstallSpec) -> str:
    """The remote.Command ``create`` string for one node: each lower device, ``:<MTU>`` where one is needed."""
    minimum = dict(spec.minimum_mtus)
    return _command(spec, INSTALL_NAME, tuple(f"{dev}:{minimum[dev]}" if dev in minimum else dev for dev in spec.lower_devices))


def uninstall_command(spec: NodeInstallSpec) -> str:
    """The remote.Command ``delete`` string for one node."""
    return _command(spec, UNINSTALL_NAME, ())


@functools.cache
def script_text(name: str) -> str:
    """The script a node runs: node_scripts/common.sh, then node_scripts/<name>.sh (read once)."""
    common = (SCRIPT_DIR / "common.sh").read_text(encoding="utf-8")
    body = (SCRIPT_DIR / f"{name}.sh").read_text(encoding="utf-8").removeprefix("#!/bin/sh\n")
    return common + "\n" + body


def _command(spec: NodeInstallSpec, name: str, args: tuple[str, ...]) -> str:
    _check_usable(spec)
    env = {
        "NODE_NAME": spec.node_name,
        "STAGED_BINARY": spec.staged_binary,
        "BINARY_SHA256": spec.binary_sha256,
        "CNI_BIN_DIR": spec.cni_bin_dir,
    }
    words = ["sudo -n"] if spec.use_sudo else []
    words.append("env")
    words += [f"{key}={shlex.quote(value)}" for key, value in env.items()]
    words += ["sh -c", shlex.quote(script_text(name)), name]
    words += [shlex.quote(arg) for arg in args]
    return " ".join(words)


def _check_usable(spec: NodeInstallSpec) -> None:
    """Reject what the scripts cannot work with; quoting makes everything else safe."""
    values = (spec.node_name, spec.staged_binary, spec.binary_sha256, spec.cni_bin_dir)
    if not spec.node_name:
        raise ValueError("node_name is empty")
    if any("\0" in value for value in values):
        raise ValueError(f"NUL byte in the spec for node {spec.node_name!r}")
    if not SHA256_HEX.fullmatch(spec.binary_sha256):
        raise ValueError(f"not a lowercase hex sha256: {spec.binary_sha256!r}")
    for path in (spec.staged_binary, spec.cni_bin_dir):
        if not path.startswith("/"):
            raise ValueError(f"not an absolute path: {path!r}")
    for dev in spec.lower_devices:
        if not INTERFACE_NAME.fullmatch(dev):
            raise ValueError(f"not a valid interface name: {dev!r}")
    for dev, mtu in spec.minimum_mtus:
        if dev not in spec.lower_devices or not 68 <= mtu <= 65535:
            raise ValueError(f"minimum MTU {mtu!r} of {dev!r}: not a lower device of the node, or not an MTU from 68 to 65535")
