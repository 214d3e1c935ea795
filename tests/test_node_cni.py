"""Claims about NodeCniInstall in ssh mode (as registered; the scripts themselves run
against a real sshd in test_node_scripts.py).

- Per node, the binary is copied to a staging path named by its hash, then installed by a
  Command whose create/delete are exactly the node scripts' command strings.
- Both carry the binary's sha256 as trigger: a new binary re-installs, nothing else does.
- The connection is a secret, pins the host key, and logging leaves stdout unrecorded.
- Nodes never wait for each other; each install waits for its own copy only.
- Before registering anything, the program reads what each node has installed
  (`components/node_probe.py`): a node with the expected binary keeps its install token, so
  nothing of it changes; a node without it gets a new token, which changes only that node's
  copy (a replacement: the binary is sent again) and install (an update: its stdin); a node
  that cannot be reached is named in a warning and keeps its token from the state (the token's
  paths are ignored), while the unit tests and the offline plan contact no node at all.
- The install checks each lower device's MTU against what its networks carry and this stack's
  NICs on them ask for (lab: eno2 1500 for web1's NIC, eno3 9000 for storage); a platform stack
  knows only its networks' own `mtu`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from components.node_commands import NodeInstallSpec, install_command, uninstall_command
from components.node_probe import NOT_CHECKED_TOKEN, Finding, Installed, Unreachable
from offline.engine import Recording, is_secret, record_stack
from tests.conftest import FAKE_SSH_KEY, SSH_KEY_CONFIG, RecordLab, stack_value
from tests.recorded import COMMAND, COPY, depends_on, inputs


def binary_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_copy_and_one_install_per_node(lab: Recording) -> None:
    assert sorted(r.name for r in lab.of_type(COPY)) == ["macvtap-cni-node01-copy", "macvtap-cni-node02-copy"]
    assert sorted(r.name for r in lab.of_type(COMMAND)) == ["macvtap-cni-node01-install", "macvtap-cni-node02-install"]


def test_binary_is_staged_under_its_hash(lab: Recording, fake_cni_binary: Path) -> None:
    copy = inputs(lab, "macvtap-cni-node01-copy")
    assert copy["source"] == {"fileAsset": str(fake_cni_binary)}
    assert copy["remotePath"] == f"/var/tmp/kvm-in-a-pod/macvtap-cni-{binary_sha(fake_cni_binary)[:16]}"


def test_commands_are_the_node_scripts_for_that_node(lab: Recording, fake_cni_binary: Path) -> None:
    sha = binary_sha(fake_cni_binary)
    spec = NodeInstallSpec(
        node_name="node02",
        staged_binary=f"/var/tmp/kvm-in-a-pod/macvtap-cni-{sha[:16]}",
        binary_sha256=sha,
        cni_bin_dir="/opt/cni/bin",
        lower_devices=("eno2", "eno3"),
        use_sudo=True,  # node02 logs in as kvmadmin
        minimum_mtus=(("eno2", 1500), ("eno3", 9000)),
    )
    command = inputs(lab, "macvtap-cni-node02-install")
    assert command["create"] == install_command(spec)
    assert command["delete"] == uninstall_command(spec)
    assert command["create"].startswith("sudo -n env NODE_NAME=node02 ")
    assert inputs(lab, "macvtap-cni-node01-install")["create"].startswith("env NODE_NAME=node01 ")  # root: no sudo


def test_binary_hash_triggers_copy_and_install(lab: Recording, fake_cni_binary: Path) -> None:
    assert inputs(lab, "macvtap-cni-node01-copy")["triggers"] == [binary_sha(fake_cni_binary), NOT_CHECKED_TOKEN]
    assert inputs(lab, "macvtap-cni-node01-install")["triggers"] == [binary_sha(fake_cni_binary)]


# --- what the nodes have, read before the update --------------------------------------------


def with_findings(fake_cni_binary: Path, findings: Mapping[str, Finding]) -> Recording:
    macvtap = {**stack_value("lab", "macvtap"), "cniBinaryPath": str(fake_cni_binary)}
    return record_stack(
        "lab",
        config_overrides={"kvm-in-a-pod:macvtap": macvtap},
        secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY},
        node_prober=lambda nodes, key, bin_dir, staging: {node.name: findings[node.name] for node in nodes},
    )


def node_resources(recording: Recording, node: str) -> tuple[Any, Any]:
    return inputs(recording, f"macvtap-cni-{node}-copy"), inputs(recording, f"macvtap-cni-{node}-install")


def test_a_node_with_the_expected_binary_keeps_its_token(fake_cni_binary: Path) -> None:
    sha = binary_sha(fake_cni_binary)
    recording = with_findings(fake_cni_binary, {"node01": Installed(sha, "3f0c9a1b2d4e6f70"), "node02": Installed(sha, "aa00bb11cc22dd33")})
    copy, install = node_resources(recording, "node01")
    assert copy["triggers"] == [sha, "3f0c9a1b2d4e6f70"] and install["stdin"] == "3f0c9a1b2d4e6f70\n"
    assert node_resources(recording, "node02")[1]["stdin"] == "aa00bb11cc22dd33\n"
    assert all(not r.ignore_changes for r in recording.of_type(COMMAND) + recording.of_type(COPY))


def test_a_node_without_the_expected_binary_changes_only_its_own_copy_and_install(fake_cni_binary: Path) -> None:
    sha = binary_sha(fake_cni_binary)
    healthy: dict[str, Finding] = {"node01": Installed(sha, "3f0c9a1b2d4e6f70"), "node02": Installed(sha, "aa00bb11cc22dd33")}
    before = with_findings(fake_cni_binary, healthy)
    for drift in (Installed(None, "aa00bb11cc22dd33"), Installed("0" * 64, "aa00bb11cc22dd33"), Installed(None, None)):
        after = with_findings(fake_cni_binary, {**healthy, "node02": drift})
        differing = {r.name: sorted(k for k in r.inputs if r.inputs[k] != after.named(r.name).inputs[k]) for r in before.resources}
        assert {name: keys for name, keys in differing.items() if keys} == {
            "macvtap-cni-node02-copy": ["triggers"],
            "macvtap-cni-node02-install": ["stdin"],
        }, drift
        # The same finding gives the same token: what a preview shows is what the update after it does.
        assert node_resources(after, "node02") == node_resources(with_findings(fake_cni_binary, {**healthy, "node02": drift}), "node02")


def test_an_unreachable_node_is_named_in_a_warning_and_keeps_its_token_from_the_state(
    fake_cni_binary: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sha = binary_sha(fake_cni_binary)
    with caplog.at_level(logging.WARNING):
        recording = with_findings(
            fake_cni_binary, {"node01": Installed(sha, "3f0c9a1b2d4e6f70"), "node02": Unreachable("no answer within 10 s")}
        )
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "node node02: could not check its macvtap CNI install over SSH (no answer within 10 s); its install resources stay"
        " as the last update left them"
    ]
    assert recording.named("macvtap-cni-node02-copy").ignore_changes == ("triggers[1]",)
    assert recording.named("macvtap-cni-node02-install").ignore_changes == ("stdin",)
    assert recording.named("macvtap-cni-node01-install").ignore_changes == ()


def test_new_binary_changes_only_the_node_resources(lab: Recording, record_lab: RecordLab, tmp_path: Path) -> None:
    new_binary = tmp_path / "macvtap"
    new_binary.write_bytes(b"#!/bin/sh\necho 'fake macvtap CNI v2'\n")
    config = stack_value("lab", "macvtap")
    config["cniBinaryPath"] = str(new_binary)
    changed = record_lab(macvtap=config)
    differing = {r.name for r in lab.resources if r.inputs != changed.named(r.name).inputs}
    assert differing == {
        "macvtap-cni-node01-copy",
        "macvtap-cni-node02-copy",
        "macvtap-cni-node01-install",
        "macvtap-cni-node02-install",
    }


def test_connection_is_secret_and_pins_the_host_key(lab: Recording) -> None:
    for resource in lab.of_type(COMMAND) + lab.of_type(COPY):
        connection = resource.inputs["connection"]
        assert is_secret(connection)
        assert connection["value"]["privateKey"] == FAKE_SSH_KEY
        assert connection["value"]["hostKey"].startswith("ssh-ed25519 ")
    assert inputs(lab, "macvtap-cni-node02-install")["connection"]["port"] == 2222


def test_command_logging_leaves_stdout_unrecorded(lab: Recording) -> None:
    for resource in lab.of_type(COMMAND):
        assert resource.inputs["logging"] == "stderr"


def test_nodes_never_wait_for_each_other(lab: Recording) -> None:
    assert depends_on(lab, "macvtap-cni-node01-install") == {"macvtap-cni-node01-copy"}
    assert depends_on(lab, "macvtap-cni-node02-install") == {"macvtap-cni-node02-copy"}
    assert depends_on(lab, "macvtap-cni-node01-copy") == set()
    assert depends_on(lab, "macvtap-cni-node02-copy") == set()


def test_daemonset_mode_registers_no_node_resources(dev: Recording) -> None:
    assert dev.of_type(COMMAND) == [] and dev.of_type(COPY) == []
    assert "cniNodes" not in dev.outputs


def test_exports_name_the_nodes_and_the_binary(lab: Recording, fake_cni_binary: Path) -> None:
    assert lab.outputs["cniNodes"] == ["node01", "node02"]
    assert lab.outputs["cniBinarySha256"] == binary_sha(fake_cni_binary)


def test_each_lower_device_must_have_the_mtu_its_networks_and_nics_need(lab: Recording, fake_cni_binary: Path) -> None:
    assert inputs(lab, "macvtap-cni-node01-install")["create"].endswith(" install-macvtap-cni eno2:1500 eno3:9000")
    macvtap = {**stack_value("platform", "macvtap"), "cniBinaryPath": str(fake_cni_binary)}
    platform = record_stack("platform", config_overrides={"kvm-in-a-pod:macvtap": macvtap}, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY})
    # The platform stack has no VMs: only storage's own mtu (lowerDevices[1].mtu) is known.
    assert inputs(platform, "macvtap-cni-node01-install")["create"].endswith(" install-macvtap-cni eno2 eno3:9000")
