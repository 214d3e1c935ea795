"""The cloud-init documents of a VM (user data, netplan v2 network data), written as YAML text.

Two small documents of a fixed shape per VM, so they are written directly instead of through
PyYAML's emitter: at 1,000 VMs the pure-Python emitter was the largest cost of our own code
(BENCHMARKS.md, "Profile findings"), and libyaml's emitter is not always installed, so using it
when present would make the bytes depend on the machine. Every string value is a YAML
double-quoted scalar (only `"`, `\\` and characters outside printable ASCII are escaped), which
reads back as the same string under any YAML 1.1 or 1.2 parser: no plain-scalar resolution
(`yes`, `12:34:56` as a base-60 integer, `null`) can apply to it. tests/test_cloud_init.py holds
the documents to ``yaml.safe_load`` equality with what ``yaml.safe_dump`` wrote before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

USER_DATA_HEADER = "#cloud-config\n"
# A mapping key written plain: lower-case identifier, and not a word YAML 1.1 resolves to a bool or null.
_PLAIN_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_RESOLVED_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _escape(char: str) -> str:
    if char == '"':
        return '\\"'
    if char == "\\":
        return "\\\\"
    if " " <= char <= "~":
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quoted(value: str) -> str:
    """``value`` as a YAML double-quoted scalar."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return '"' + "".join(_escape(char) for char in value) + '"'


def _key(name: str) -> str:
    return name if _PLAIN_KEY.match(name) and name not in _RESOLVED_WORDS else quoted(name)


def user_data(ssh_authorized_keys: Sequence[str], console_password: str | None = None) -> str:
    """``#cloud-config`` with the authorized keys of the VM's default user, and its console password when given.

    The password is cloud-init's ``password`` (the default user's, module cc_set_passwords), not
    expired (``chpasswd.expire: false``), and for the console only: ``ssh_pwauth: false`` keeps
    SSH to keys.
    """
    password = f"password: {quoted(console_password)}\nchpasswd:\n  expire: false\nssh_pwauth: false\n" if console_password else ""
    if not ssh_authorized_keys:
        return USER_DATA_HEADER + password + "ssh_authorized_keys: []\n"
    return USER_DATA_HEADER + password + "ssh_authorized_keys:\n" + "".join(f"- {quoted(key)}\n" for key in ssh_authorized_keys)


def network_data(macs_by_interface: Mapping[str, str]) -> str:
    """netplan v2: DHCPv4 on every interface, each matched by its MAC (in the mapping's order)."""
    lines = ["version: 2\n", "ethernets:\n"]
    for interface, mac in macs_by_interface.items():
        lines.append(f"  {_key(interface)}:\n    match:\n      macaddress: {quoted(mac)}\n    dhcp4: true\n")
    return "".join(lines)
