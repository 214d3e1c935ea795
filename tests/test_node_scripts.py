"""Claims about installing the macvtap CNI binary on nodes over SSH (one test each):

1. A fresh install puts the binary at <cni_bin_dir>/macvtap, mode 0755, right sha256.
2. Running the same install again is a no-op that says "already installed".
3. Installing a new binary (different sha256) replaces the old one.
4. A corrupted staged copy fails the install and leaves the old binary; the error
   names the node, the path and the cause.
5. A copy that changes between the staged check and the install is caught: the
   install fails, the old binary stays, no temp file is left.
6. A failure after the temp copy exists (mv fails) leaves the old binary and no
   temp file.
7. A missing lower device fails the install with its name and leaves the old state.
8. The lower device `lo` passes the check.
8b. A lower device whose MTU is below what its networks need fails the install naming the
    node, the device and both MTUs, and leaves the old state; one with enough MTU passes.
9. Uninstall removes the binary we installed and our staged copy.
10. Uninstall keeps a foreign binary, warns and exits 0.
10b. After a binary upgrade (new install first, then the old one's uninstall, as Pulumi
    replaces the command), the old uninstall keeps the new binary quietly: no warning,
    a progress line on stdout, and it removes only the old staged copy.
11. Uninstall with nothing installed says "not installed" and exits 0.
12. The two nodes are independent.
13. No macvtap module and no modprobe: a WARNING naming the node, not a failure.
14. A failing modprobe is a WARNING naming the node, not a failure; a working
    modprobe gives no warning.
15. An SSH connection with a wrong pinned host key is refused.
16. The validation helpers reject node names, paths and interface names with shell
    metacharacters.
17. Values with spaces, quotes, $(...) and backticks pass through install_command
    literally: the script receives them as data, nothing is interpreted.
18. The command is `[sudo -n ]env K=V... sh -c '<script file>' <name> [devices]` and
    the `sudo -n` form works.
19. The scripts are POSIX sh (dash -n; checkbashisms when installed).
20. The sshd stand-ins leave no process behind.

Every command string comes from `commands_for`, which takes it from a recorded run of the
real program (the code path users get); the tests run them through real sshd
instances (tests/sshd.py) on sandbox directories, never on /opt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from components.node_commands import (
    DNS1123_LABEL,
    INSTALL_NAME,
    INTERFACE_NAME,
    UNINSTALL_NAME,
    NodeInstallSpec,
    install_command,
    is_safe_absolute_path,
    script_text,
    staged_binary_path,
    uninstall_command,
    validation_errors,
)
from offline.engine import record_stack
from tests.conftest import FAKE_SSH_KEY, SSH_KEY_CONFIG
from tests.sshd import SshNode, new_keypair, processes_matching, run_on, running_sshd
from tests.sshd import copy_to as copy_to_node
from tests.sshd import ssh_nodes as ssh_nodes  # the fixture

V1 = b"#!/bin/sh\necho v1\n"
V2 = b"#!/bin/sh\necho v2\n"
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# Binaries by sha256, so that a spec can be turned back into a stack config.
_BINARIES: dict[str, bytes] = {}


def commands_for(spec: NodeInstallSpec) -> tuple[str, str]:
    """The (create, delete) command strings for one node, exactly as users get them.

    The real program runs under the recording engine with a one-node ssh-mode config made
    from ``spec``; the strings are taken from the recorded ``remote.Command`` inputs.
    """
    minimum = dict(spec.minimum_mtus)
    with tempfile.TemporaryDirectory() as workdir:
        binary = Path(workdir) / "macvtap"
        binary.write_bytes(_BINARIES[spec.binary_sha256])
        recording = record_stack(
            "lab",
            config_overrides={
                "kvm-in-a-pod:macvtap": {
                    "cniInstall": "ssh",
                    "cniBinaryPath": str(binary),
                    "cniBinDir": spec.cni_bin_dir,
                    "stagingDir": str(Path(spec.staged_binary).parent),
                    "lowerDevices": [
                        {"name": f"net{index}", "lowerDevice": device, **({"mtu": minimum[device]} if device in minimum else {})}
                        for index, device in enumerate(spec.lower_devices)
                    ],
                },
                "kvm-in-a-pod:nodes": [{"name": spec.node_name, "host": "127.0.0.1", "user": "kvmadmin" if spec.use_sudo else "root"}],
                "kvm-in-a-pod:vms": [],
            },
            secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY},
        )
    copy = recording.named(f"macvtap-cni-{spec.node_name}-copy").inputs
    assert copy["remotePath"] == spec.staged_binary
    command = recording.named(f"macvtap-cni-{spec.node_name}-install").inputs
    return command["create"], command["delete"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spec_for(node: SshNode, binary: bytes, **changes: object) -> NodeInstallSpec:
    digest = sha256(binary)
    _BINARIES[digest] = binary
    spec = NodeInstallSpec(
        node_name=node.name,
        staged_binary=staged_binary_path(str(node.staging_dir), digest),
        binary_sha256=digest,
        cni_bin_dir=str(node.cni_bin_dir),
        lower_devices=("lo",),
        use_sudo=False,
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def stage(node: SshNode, binary: bytes, **changes: object) -> NodeInstallSpec:
    """Copy binary to the node (as CopyToRemote would); return its spec."""
    spec = spec_for(node, binary, **changes)
    copy_to_node(node, binary, spec.staged_binary)
    return spec


def install(node: SshNode, spec: NodeInstallSpec, prefix: str = "") -> tuple[int, str, str]:
    return run_on(node, prefix + commands_for(spec)[0])


def uninstall(node: SshNode, spec: NodeInstallSpec) -> tuple[int, str, str]:
    return run_on(node, commands_for(spec)[1])


def target(spec: NodeInstallSpec) -> Path:
    return Path(spec.cni_bin_dir) / "macvtap"


def assert_installed(spec: NodeInstallSpec, content: bytes) -> None:
    path = target(spec)
    assert path.read_bytes() == content
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert sha256(content) == spec.binary_sha256
    assert os.listdir(spec.cni_bin_dir) == ["macvtap"], "temp file left behind"


def fake_tools(node: SshNode, **scripts: str) -> str:
    """A command prefix that puts fake tools (name=sh body) first in PATH."""
    fake_bin = node.workdir / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    for name, body in scripts.items():
        tool = fake_bin / name
        tool.write_text("#!/bin/sh\n" + body + "\n")
        tool.chmod(0o755)
    return f"PATH={shlex.quote(str(fake_bin))}:$PATH; export PATH; "


def module_loaded() -> bool:
    return Path("/sys/module/macvtap").exists()


# --- install -------------------------------------------------------------------------


def test_fresh_install_puts_binary_0755_with_right_hash(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    spec = stage(node, V1)
    code, out, err = install(node, spec)
    assert code == 0, err
    assert_installed(spec, V1)
    assert stat.S_IMODE(node.cni_bin_dir.stat().st_mode) == 0o755  # created by the script
    assert f"node {node.name}: installed {target(spec)} (sha256 {spec.binary_sha256})" in out
    assert run_on(node, shlex.quote(str(target(spec))))[:2] == (0, "v1\n")


def test_second_install_is_a_noop_saying_already_installed(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    spec = stage(node, V1)
    assert install(node, spec)[0] == 0
    before = target(spec).stat()
    code, out, err = install(node, spec)
    assert code == 0, err
    assert "already installed" in out
    after = target(spec).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert_installed(spec, V1)


def test_new_binary_replaces_old(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    old, new = stage(node, V1), stage(node, V2)
    assert old.staged_binary != new.staged_binary
    assert install(node, old)[0] == 0
    code, out, err = install(node, new)
    assert code == 0, err
    assert_installed(new, V2)
    assert f"replacing sha256 {old.binary_sha256}" in out


def test_corrupted_staged_copy_fails_and_keeps_old_binary(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    old = stage(node, V1)
    assert install(node, old)[0] == 0
    new = spec_for(node, V2)
    copy_to_node(node, b"#!/bin/sh\necho truncated", new.staged_binary)  # not V2
    code, out, err = install(node, new)
    assert code != 0
    assert_installed(old, V1)
    assert f"node {node.name}" in err
    assert new.staged_binary in err
    assert f"expected {new.binary_sha256}" in err and "corrupted" in err
    assert "installed" not in out


def test_copy_changed_during_install_is_caught_and_old_binary_kept(
    ssh_nodes: tuple[SshNode, SshNode],
) -> None:
    node, _ = ssh_nodes
    old, new = stage(node, V1), stage(node, V2)
    assert install(node, old)[0] == 0
    # A cp that writes something else into the temp file stands in for a swap of the
    # staged file between its check and the copy.
    prefix = fake_tools(node, cp='echo tampered > "$2"')
    code, _out, err = install(node, new, prefix)
    assert code != 0
    assert "changed during install" in err and f"node {node.name}" in err
    assert_installed(old, V1)  # also: no temp file left


def test_failure_after_temp_copy_cleans_up_and_keeps_old_binary(
    ssh_nodes: tuple[SshNode, SshNode],
) -> None:
    node, _ = ssh_nodes
    old, new = stage(node, V1), stage(node, V2)
    assert install(node, old)[0] == 0
    prefix = fake_tools(node, mv='echo "mv: disk on fire" >&2; exit 1')
    code, _out, err = install(node, new, prefix)
    assert code != 0
    assert f"node {node.name}" in err and str(target(new)) in err and "disk on fire" in err
    assert_installed(old, V1)  # also: no temp file left


def test_missing_lower_device_fails_naming_it_and_keeps_old_state(
    ssh_nodes: tuple[SshNode, SshNode],
) -> None:
    node, _ = ssh_nodes
    old = stage(node, V1)
    assert install(node, old)[0] == 0
    new = stage(node, V2, lower_devices=("lo", "nosuchdev0"))
    code, _out, err = install(node, new)
    assert code != 0
    assert "lower device nosuchdev0 does not exist" in err and f"node {node.name}" in err
    assert_installed(old, V1)


def test_lower_device_lo_passes(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    spec = stage(node, V1, lower_devices=("lo",))
    code, _out, err = install(node, spec)
    assert code == 0, err
    assert "lower device" not in err
    assert_installed(spec, V1)


def in_own_network_namespace(command: str, lo_mtu: int) -> subprocess.CompletedProcess[str]:
    """``command`` in a network namespace of this test's own (gone with the process), its lo at ``lo_mtu``."""
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    return subprocess.run([*unshare, "sh", "-c", f"ip link set lo mtu {lo_mtu} && {command}"], capture_output=True, text=True, check=False)


def test_lower_device_below_the_mtu_its_networks_need_fails_naming_both_mtus(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    old = stage(node, V1)
    assert install(node, old)[0] == 0
    new = stage(node, V2, minimum_mtus=(("lo", 9000),))
    create = commands_for(new)[0]
    assert create.endswith(f"{INSTALL_NAME} lo:9000")
    refused = in_own_network_namespace(create, 1500)
    assert refused.returncode != 0
    assert f"node {node.name}: ERROR: lower device lo has MTU 1500, below the 9000 its macvtap networks need" in refused.stderr
    assert_installed(old, V1)
    passed = in_own_network_namespace(create, 9000)
    assert passed.returncode == 0, passed.stderr
    assert_installed(new, V2)


# --- uninstall -----------------------------------------------------------------------


def test_uninstall_removes_our_binary_and_staged_copy(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    spec = stage(node, V1)
    assert install(node, spec)[0] == 0
    code, out, err = uninstall(node, spec)
    assert code == 0, err
    assert not target(spec).exists()
    assert not Path(spec.staged_binary).exists()
    assert f"removed CNI binary {target(spec)}" in out


def test_uninstall_keeps_foreign_binary_and_says_so(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    ours = stage(node, V1)
    assert install(node, ours)[0] == 0
    foreign = b"#!/bin/sh\necho someone else\n"
    target(ours).write_bytes(foreign)
    code, _out, err = uninstall(node, ours)
    assert code == 0, err
    assert target(ours).read_bytes() == foreign
    assert f"node {node.name}: WARNING: CNI binary {target(ours)} has sha256 {sha256(foreign)}" in err
    assert "leaving it in place" in err
    assert not Path(ours.staged_binary).exists()  # the staged copy is still ours


def test_uninstall_of_the_old_version_after_an_upgrade_keeps_the_new_binary_quietly(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    old, new = stage(node, V1), stage(node, V2)
    assert install(node, old)[0] == 0
    assert install(node, new)[0] == 0
    code, out, err = uninstall(node, old)
    assert (code, err) == (0, "")
    assert (
        f"node {node.name}: CNI binary {target(new)} has sha256 {new.binary_sha256}, a newer version installed by this program"
        f" (staged as {new.staged_binary}); leaving it in place"
    ) in out
    assert_installed(new, V2)
    assert not Path(old.staged_binary).exists()
    assert Path(new.staged_binary).exists()


def test_uninstall_with_nothing_installed_says_not_installed(
    ssh_nodes: tuple[SshNode, SshNode],
) -> None:
    node, _ = ssh_nodes
    spec = spec_for(node, V1)
    code, out, err = uninstall(node, spec)
    assert code == 0, err
    assert "not installed" in out


# --- nodes, kernel module, ssh ---------------------------------------------------------


def test_two_nodes_are_independent(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node_a, node_b = ssh_nodes
    spec_a = stage(node_a, V1)
    assert install(node_a, spec_a)[0] == 0
    assert not node_b.cni_bin_dir.exists()
    spec_b = stage(node_b, V2)
    assert install(node_b, spec_b)[0] == 0
    assert_installed(spec_a, V1)
    assert_installed(spec_b, V2)
    assert uninstall(node_a, spec_a)[0] == 0
    assert not target(spec_a).exists()
    assert_installed(spec_b, V2)


def test_missing_module_without_modprobe_warns_and_succeeds(
    ssh_nodes: tuple[SshNode, SshNode],
) -> None:
    if module_loaded() or shutil.which("modprobe", path=os.environ["PATH"] + ":" + SBIN_PATH):
        pytest.skip("this machine has the macvtap module or modprobe")
    node, _ = ssh_nodes
    spec = stage(node, V1)
    code, _out, err = install(node, spec)
    assert code == 0, err
    assert f"node {node.name}: WARNING: macvtap kernel module is not loaded" in err
    assert "modprobe is not available" in err and 'Run "modprobe macvtap" on the machine' in err
    assert_installed(spec, V1)


def test_failing_modprobe_warns_and_succeeds_working_one_does_not(
    ssh_nodes: tuple[SshNode, SshNode],
) -> None:
    if module_loaded():
        pytest.skip("the macvtap module is loaded on this machine")
    node, _ = ssh_nodes
    spec = stage(node, V1)
    failing = fake_tools(node, modprobe='echo "FATAL: Module macvtap not found" >&2; exit 1')
    code, _out, err = install(node, spec, failing)
    assert code == 0, err
    assert f"node {node.name}: WARNING: modprobe macvtap failed" in err
    assert "Module macvtap not found" in err
    working = fake_tools(node, modprobe="exit 0")
    code, out, err = install(node, spec, working)
    assert code == 0, err
    assert "WARNING" not in err and "loaded the macvtap kernel module" in out


def test_wrong_pinned_host_key_is_refused(ssh_nodes: tuple[SshNode, SshNode], tmp_path: Path) -> None:
    node, _ = ssh_nodes
    other_key = new_keypair(tmp_path / "impostor", "impostor")
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(node.known_hosts_line(other_key))
    code, out, err = run_on(node, "echo reached", known_hosts=wrong)
    assert code == 255 and "reached" not in out
    assert "Host key verification failed" in err
    assert run_on(node, "echo reached")[:2] == (0, "reached\n")  # the right pin works


# --- quoting and command format --------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["node1;reboot", "node$(id)", "node`id`", "node 1", "Node1", "node1\n", "-node", "a" * 64, ""],
)
def test_validation_rejects_bad_node_names(bad: str) -> None:
    assert DNS1123_LABEL.fullmatch(bad) is None


@pytest.mark.parametrize(
    "bad",
    [
        "/opt/cni/bin; rm -rf /",
        "/opt/$(id)",
        "/opt/`id`",
        "/opt/cni bin",
        "/opt/it's",
        "/opt/cni/../../etc",
        "/opt/./cni",
        "/opt/cni/",
        "//opt/cni",
        "opt/cni/bin",
        "/",
        "/opt/cni\n",
        "/opt/*",
    ],
)
def test_validation_rejects_bad_paths(bad: str) -> None:
    assert not is_safe_absolute_path(bad)


@pytest.mark.parametrize("bad", ["eth0;id", "eth 0", "eth0:1", "eth/0", "$(id)", "a" * 16, "", ".", "..", "eth0\n"])
def test_validation_rejects_bad_interface_names(bad: str) -> None:
    assert INTERFACE_NAME.fullmatch(bad) is None


def test_validation_accepts_good_values_and_reports_bad_spec() -> None:
    assert is_safe_absolute_path("/opt/cni/bin") and is_safe_absolute_path("/var/tmp/k-i-p_1.0")
    assert all(INTERFACE_NAME.fullmatch(n) for n in ("eth0", "enp0s31f6", "bond0.100", "br-ex"))
    assert DNS1123_LABEL.fullmatch("worker-1")
    digest = sha256(V1)
    good = NodeInstallSpec("worker-1", f"/var/tmp/s/{digest[:8]}", digest, "/opt/cni/bin", ("eth0",), True)
    assert validation_errors(good) == []
    bad = dataclasses.replace(good, node_name="w;1", cni_bin_dir="/opt/$(x)", lower_devices=("a b",))
    assert len(validation_errors(bad)) == 3
    with pytest.raises(ValueError):
        install_command(dataclasses.replace(good, lower_devices=("eth0;id",)))
    with pytest.raises(ValueError):
        install_command(dataclasses.replace(good, binary_sha256="ABC"))
    with pytest.raises(ValueError):
        uninstall_command(dataclasses.replace(good, cni_bin_dir="opt/cni/bin"))


def test_values_with_spaces_quotes_and_substitutions_reach_the_script_literally(
    ssh_nodes: tuple[SshNode, SshNode],
) -> None:
    node, _ = ssh_nodes
    marker = node.workdir / "injected"
    evil = f"$(touch {marker}) `touch {marker}`; touch {marker}"
    name = f'it\'s "{node.name}" {evil}'
    staging = node.workdir / f"stage dir it's {evil}"
    cni_dir = node.workdir / f'cni "bin" {evil}'
    digest = sha256(V1)
    spec = stage(
        node,
        V1,
        node_name=name,
        staged_binary=staged_binary_path(str(staging), digest),
        cni_bin_dir=str(cni_dir),
    )
    # The stack config refuses such values (test_config.py); this shows the quoting of the
    # command builder holds even without that first line of defence.
    code, out, err = run_on(node, install_command(spec))
    assert code == 0, err
    assert (cni_dir / "macvtap").read_bytes() == V1
    assert f"node {name}: installed {cni_dir}/macvtap" in out
    code, out, err = run_on(node, uninstall_command(spec))
    assert code == 0, err
    assert not (cni_dir / "macvtap").exists() and f"node {name}: removed" in out
    assert not marker.exists(), "a value was interpreted by a shell"


def test_command_format_and_sudo_form_works(ssh_nodes: tuple[SshNode, SshNode]) -> None:
    node, _ = ssh_nodes
    spec = stage(node, V1, lower_devices=("lo", "eth0"))
    create, delete = commands_for(spec)
    assert shlex.split(create) == [
        "env",
        f"NODE_NAME={spec.node_name}",
        f"STAGED_BINARY={spec.staged_binary}",
        f"BINARY_SHA256={spec.binary_sha256}",
        f"CNI_BIN_DIR={spec.cni_bin_dir}",
        "sh",
        "-c",
        script_text(INSTALL_NAME),
        INSTALL_NAME,
        "lo",
        "eth0",
    ]
    assert shlex.split(delete)[-3:] == ["-c", script_text(UNINSTALL_NAME), UNINSTALL_NAME]
    # The scripts hold no single quote, so the command shows them verbatim.
    assert f"sh -c '{script_text(INSTALL_NAME)}' {INSTALL_NAME} lo eth0" in create
    sudo_spec = dataclasses.replace(spec, lower_devices=("lo",), use_sudo=True)
    sudo_create, sudo_delete = commands_for(sudo_spec)
    assert sudo_create.startswith("sudo -n env NODE_NAME=")
    if os.geteuid() != 0 or shutil.which("sudo") is None:
        pytest.skip("running `sudo -n` needs root and sudo on this machine")
    code, _out, err = run_on(node, sudo_create)
    assert code == 0, err
    assert_installed(sudo_spec, V1)
    assert run_on(node, sudo_delete)[0] == 0 and not target(sudo_spec).exists()


@pytest.mark.parametrize("name", [INSTALL_NAME, UNINSTALL_NAME])
def test_scripts_are_posix_sh(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.sh"  # what the node runs: common.sh followed by the body
    text = script_text(name)
    path.write_text(text)
    assert text.splitlines()[1:].count("set -eu") == 1 and not re.search(r"\beval\b", text)
    if shutil.which("dash"):
        subprocess.run(["dash", "-n", str(path)], check=True)
    subprocess.run(["sh", "-n", str(path)], check=True)
    if shutil.which("checkbashisms") is None:
        pytest.skip("checkbashisms (devscripts) not installed; dash -n passed")
    result = subprocess.run(["checkbashisms", "-f", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sshd_stand_ins_leave_no_process_behind(tmp_path: Path) -> None:
    with running_sshd(tmp_path / "node-x", "node-x") as node:
        assert processes_matching(str(tmp_path))
        assert run_on(node, "true")[0] == 0
    assert processes_matching(str(tmp_path)) == []
