"""The cloud-init documents written without a YAML emitter (components/cloud_init.py).

What a user would check:
- The generated user data and network data mean exactly what ``yaml.safe_dump`` of the same
  data meant before (the bytes changed, the parsed documents did not), for the VMs of the
  committed stacks and for awkward strings: quotes, backslashes, control characters, non-ASCII
  and astral characters, words YAML 1.1 reads as booleans or null, digits and colons that it
  reads as base-60 integers.
- The user data still starts with ``#cloud-config`` (cloud-init's marker).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from components import cloud_init
from components.config import VM
from components.macvtap_vm.manifests import POD_INTERFACE, cloud_init_network_data, cloud_init_user_data, derive_mac, plan_attachments

AWKWARD = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILGobVdNcr3L+mVU/hG5B0Ui0NFxv5wnhVMiHt2zyrkI ops@lab",
    "yes",
    "No",
    "null",
    "~",
    "12:34:56:07:08:09",
    "02:00:00:00:00:01",
    '"quoted"',
    "back\\slash",
    "tab\there",
    "new\nline",
    "bell\x07 del\x7f nel\x85 nbsp\xa0",
    "é ü 中文 \u2028 \ufeff",
    "emoji \U0001f600",
    "- leading dash",
    "#comment",
    "key: value",
    "",
    " padded ",
    "0x1f",
    "1e3",
]


def safe_dump_user_data(keys: list[str]) -> str:
    """What the program wrote before: PyYAML's emitter."""
    return "#cloud-config\n" + yaml.safe_dump({"ssh_authorized_keys": keys}, sort_keys=True, default_flow_style=False)


def safe_dump_network_data(macs: dict[str, str]) -> dict[str, Any]:
    ethernets = {name: {"match": {"macaddress": mac}, "dhcp4": True} for name, mac in macs.items()}
    return {"version": 2, "ethernets": ethernets}


def random_string(rng: random.Random) -> str:
    alphabet = [*map(chr, range(0x00, 0x80)), "\x85", "\xa0", "é", "\u2028", "\ufeff", "中", "\U0001f600", '"', "\\", ":", " "]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))


@pytest.mark.parametrize("value", AWKWARD)
def test_a_quoted_string_reads_back_as_itself(value: str) -> None:
    assert yaml.safe_load(cloud_init.quoted(value)) == value


def test_random_strings_read_back_as_themselves() -> None:
    rng = random.Random(14)
    for _ in range(3000):
        value = random_string(rng)
        assert yaml.safe_load(f"k: {cloud_init.quoted(value)}\n") == {"k": value}, repr(value)


def test_user_data_parses_as_what_safe_dump_wrote() -> None:
    assert yaml.safe_load(cloud_init.user_data(AWKWARD)) == yaml.safe_load(safe_dump_user_data(AWKWARD))
    assert yaml.safe_load(cloud_init.user_data(AWKWARD)) == {"ssh_authorized_keys": AWKWARD}


def test_user_data_without_keys_is_an_empty_list() -> None:
    assert yaml.safe_load(cloud_init.user_data([])) == yaml.safe_load(safe_dump_user_data([])) == {"ssh_authorized_keys": []}


def test_user_data_starts_with_the_cloud_config_marker() -> None:
    assert cloud_init.user_data(AWKWARD[:1]).startswith("#cloud-config\n")


def test_network_data_parses_as_what_safe_dump_wrote() -> None:
    macs = {"default": "02:00:00:00:00:01", "macvtap0": "12:34:56:07:08:09", "yes": "0A:1b:2C:3d:4E:5f", "odd name": "x"}
    assert yaml.safe_load(cloud_init.network_data(macs)) == safe_dump_network_data(macs)


def test_a_vms_documents_mean_what_they_meant_before() -> None:
    vm = VM.model_validate(
        {
            "name": "db1",
            "sshAuthorizedKeys": [AWKWARD[0], 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 "quoted" comment'],
            "macvtap": [{"network": "lan"}, {"network": "storage", "mac": "12:34:56:07:08:09"}],
        }
    )
    attachments = plan_attachments("lab", vm)
    pod_mac = derive_mac("lab", vm.name, POD_INTERFACE)
    macs = {POD_INTERFACE: pod_mac, **{planned.interface: planned.mac for planned in attachments}}
    assert yaml.safe_load(cloud_init_user_data(vm)) == yaml.safe_load(safe_dump_user_data(list(vm.ssh_authorized_keys)))
    assert yaml.safe_load(cloud_init_network_data(pod_mac, attachments)) == safe_dump_network_data(macs)
