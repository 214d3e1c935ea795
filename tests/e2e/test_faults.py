"""When things go wrong: an interrupted CLI, an API server that goes away, and a node or object changed by
hand, each converging with one documented step (README, "When an update was interrupted").

One ssh-mode stack (``faults``) on the suite's two nodes, deployed first. Converged means: a
no-change preview passes, no object of ours is duplicated or orphaned in the API server, and no node
has a half-installed binary or a leftover temp file (``assert_converged``). Each test says what the
user sees before and after the recovery step, in its own output (``[faults]`` lines).

1. SIGKILL of the CLI (a) after the copy to a node and before its install, (b) while a VMI is
   awaited, (c) in the middle of ``pulumi destroy``: the lock it leaves is named in the next
   command's refusal, ``pulumi cancel`` removes it, and the pending operations are cleared as the
   README says; then ``up`` (or ``destroy``) converges.
2. SIGINT once: a graceful cancel. The engine signals cancellation to the providers, and the
   kubernetes provider aborts the operation it runs (provider.go, ``Cancel``: "abort any ongoing
   resource operations"), so a VMI being replaced may or may not exist yet; but the CLI leaves no
   lock and no pending operation, the state says what the cluster has, and the next ``up``
   converges with no extra step.
3. The API server stopped for 30 s during ``up``: ``up`` fails naming the API server (or waits it
   out); the next ``up`` converges.
4. ssh-mode drift: a binary deleted or replaced by hand on node02 shows in ``pulumi preview`` as a
   change of node02's install only, and ``up`` repairs it; a node that cannot be reached during
   preview is named in one warning, and the preview neither hangs nor changes it; an unchanged
   node costs no change.
5. Kubernetes drift: a VMI deleted by hand, a NAD edited by hand and a DaemonSet deleted by hand
   are each set back by ``pulumi up --refresh``; the VMs using the NAD are replaced, as for a NAD
   change made in config.
6. Concurrency: a second ``up`` while one runs is refused at once with the CLI's lock message; two
   ``vms`` stacks updated at the same time on one platform both converge.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dataplane.prerequisites import DataplaneTools
from tests.e2e.controlplane import ControlPlane
from tests.e2e.kube import Kube
from tests.e2e.nodes import CNI_BIN_DIR, STAGING_DIR, Node
from tests.e2e.processes import Server
from tests.e2e.project import PulumiResult
from tests.e2e.stack import NS, Session, live, new_session, node_file
from tests.e2e.tools import Toolchain

STACK = "faults"
VM_NAMESPACE = "vms-e2e"


def say(what: str) -> None:
    """What the user sees at this point, for the record (the note and the README quote these)."""
    sys.stderr.write(f"\n[faults] {what}\n")


@pytest.fixture(scope="module")
def faults(
    toolchain: Toolchain, tools: DataplaneTools, control_plane: ControlPlane, kubevirt_double: Server, nodes: list[Node], e2e_dir: Path
) -> Iterator[Session]:
    workdir = e2e_dir / "faults"
    workdir.mkdir()
    session = new_session(workdir, STACK, toolchain, control_plane.kubeconfig, nodes, tools.cni)
    session.pulumi("up", "--yes", "--skip-preview").check()
    yield session
    session.pulumi("cancel", "--yes")
    session.pulumi("destroy", "--yes", "--skip-preview")


class Background:
    """One CLI command running while the test acts; its output is read as it comes."""

    def __init__(self, session: Session, *args: str) -> None:
        self.log = session.project.home / f"background-{time.monotonic_ns()}.log"
        argv = [str(session.project.bin_dir / "pulumi"), *args, "--non-interactive", "--stack", session.stack]
        self.argv = argv
        self.started = time.monotonic()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=session.project.root, env=session.project.env(), stdout=out, stderr=out)
        self.session = session

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"`{' '.join(self.argv[1:3])}` ended ({self.proc.returncode}) before /{pattern}/:\n{self.output()[-3000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(f"no /{pattern}/ within {timeout:.0f} s:\n{self.output()[-3000:]}")

    def send(self, number: int) -> None:
        self.proc.send_signal(number)

    def finish(self, timeout: float = 600) -> PulumiResult:
        code = self.proc.wait(timeout=timeout)
        result = PulumiResult(self.argv, code, self.output(), "", time.monotonic() - self.started)
        self.session.results.append(result)
        return result


def changed_resources(result: PulumiResult) -> dict[str, str]:
    """``pulumi preview --json``: resource name -> operation, for every step that is not "same"."""
    steps = json.loads(result.stdout).get("steps", [])
    return {step["urn"].rsplit("::", 1)[1]: step["op"] for step in steps if step["op"] != "same"}


def assert_converged(session: Session, kube: Kube, nodes: list[Node]) -> None:
    session.pulumi("preview", "--expect-no-changes").check()
    state = session.project.export_state(STACK)
    assert not state["deployment"].get("pending_operations"), state["deployment"].get("pending_operations")
    urns = [resource["urn"] for resource in state["deployment"]["resources"]]
    assert len(urns) == len(set(urns)), "a resource is in the state twice"
    ours = [r for r in state["deployment"]["resources"] if r["type"].startswith("kubernetes:") and r.get("id") and r["custom"]]
    for resource in ours:
        kind = resource["type"].rsplit(":", 1)[1]
        if kind in ("Provider", "ConfigFile"):
            continue
        namespace, _, name = str(resource["id"]).rpartition("/")
        live(kube, kind, name, namespace or None)
    for kind in ("VirtualMachineInstance", "VirtualMachine", "NetworkAttachmentDefinition"):
        in_state = sorted(str(r["id"]).rsplit("/", 1)[1] for r in ours if r["type"].endswith(f":{kind}"))
        in_cluster = sorted(obj["metadata"]["name"] for obj in kube.list(kind, VM_NAMESPACE))
        assert in_cluster == in_state, f"{kind}: cluster {in_cluster}, state {in_state}"
    want = node_file_digest(session)
    for node in nodes:
        assert node_file(node, f"{CNI_BIN_DIR}/macvtap") == ("755", want), node.name
        code, out = node.ssh(f"ls -A {CNI_BIN_DIR}; ls -A {STAGING_DIR}")
        assert code == 0 and not [line for line in out.split() if line.startswith(".")], f"{node.name}: temp files left: {out}"


def node_file_digest(session: Session) -> str:
    return hashlib.sha256(session.binary().read_bytes()).hexdigest()


def new_binary(session: Session, tag: str) -> str:
    """A different CNI binary (the real one with a marker appended, still a working ELF file)."""
    return session.write_binary(session.binary().read_bytes() + f"# {tag}\n".encode())


def stack_vms(session: Session) -> list[dict[str, Any]]:
    vms: list[dict[str, Any]] = yaml.safe_load(session.project.stack_file(STACK).read_text())["config"][f"{NS}vms"]
    return vms


def set_vm_memory(session: Session, vm: str, memory: str) -> None:
    vms = stack_vms(session)
    next(entry for entry in vms if entry["name"] == vm)["memory"] = memory
    session.project.set_config(STACK, f"{NS}vms", vms)


# --- 4: ssh-mode drift --------------------------------------------------------------------------


def test_4_a_binary_deleted_by_hand_shows_as_that_nodes_install_only_and_up_repairs_it(
    faults: Session, kube: Kube, nodes: list[Node]
) -> None:
    node02 = nodes[1]
    code, out = node02.ssh(f"rm {CNI_BIN_DIR}/macvtap")
    assert code == 0, out
    preview = faults.pulumi("preview", "--json")
    preview.check()
    assert changed_resources(preview) == {"macvtap-cni-node02-copy": "replace", "macvtap-cni-node02-install": "update"}
    say(f"binary deleted on node02: pulumi preview shows {changed_resources(preview)}")
    faults.pulumi("up", "--yes", "--skip-preview").check()
    assert_converged(faults, kube, nodes)


def test_4_a_binary_replaced_by_hand_is_put_back_the_same_way(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    node02 = nodes[1]
    code, out = node02.ssh(f"printf '#!/bin/sh\\necho not ours\\n' > {CNI_BIN_DIR}/macvtap")
    assert code == 0, out
    preview = faults.pulumi("preview", "--json")
    assert changed_resources(preview.check()) == {"macvtap-cni-node02-copy": "replace", "macvtap-cni-node02-install": "update"}
    faults.pulumi("up", "--yes", "--skip-preview").check()
    assert_converged(faults, kube, nodes)


def test_4_an_unreachable_node_is_named_in_one_warning_and_left_unchanged_by_preview(
    faults: Session, kube: Kube, nodes: list[Node]
) -> None:
    node02 = nodes[1]
    node02.stop()
    try:
        preview = faults.pulumi("preview", "--expect-no-changes", timeout=180)
        preview.check()
        warnings = re.findall(r"node node02: could not check its macvtap CNI install over SSH \([^)]*\)", preview.output)
        assert len(set(warnings)) == 1, preview.output
        say(f"node02 down: pulumi preview took {preview.seconds:.1f} s and warned: {warnings[0]}")
    finally:
        node02.start()  # a fresh node: empty /opt/cni/bin and staging dir, as after a re-install
    preview = faults.pulumi("preview", "--json")
    assert changed_resources(preview.check()) == {"macvtap-cni-node02-copy": "replace", "macvtap-cni-node02-install": "update"}
    faults.pulumi("up", "--yes", "--skip-preview").check()
    assert_converged(faults, kube, nodes)


# --- 5: Kubernetes drift ------------------------------------------------------------------------


def uid(kube: Kube, kind: str, name: str, namespace: str | None = VM_NAMESPACE) -> str:
    return str(live(kube, kind, name, namespace)["metadata"]["uid"])


def wait_gone(kube: Kube, kind: str, name: str, namespace: str | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while kube.get(kind, name, namespace) is not None:
        assert time.monotonic() < deadline, f"{kind} {namespace}/{name} is still there"
        time.sleep(0.2)


def test_5_a_vmi_deleted_by_hand_comes_back_with_up_refresh(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    before = uid(kube, "VirtualMachineInstance", "vm-a")
    kube.delete("VirtualMachineInstance", "vm-a", VM_NAMESPACE)
    wait_gone(kube, "VirtualMachineInstance", "vm-a", VM_NAMESPACE)
    blind = faults.pulumi("preview", "--expect-no-changes")
    say(f"VMI deleted by hand: plain `pulumi preview --expect-no-changes` exits {blind.code} (it reads the state, not the cluster)")
    faults.pulumi("up", "--refresh", "--yes", "--skip-preview").check()
    assert uid(kube, "VirtualMachineInstance", "vm-a") != before
    assert_converged(faults, kube, nodes)


def test_5_a_nad_edited_by_hand_is_set_back_and_the_vms_using_it_are_replaced(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    nad = live(kube, "NetworkAttachmentDefinition", "lan", VM_NAMESPACE)
    ours = nad["spec"]["config"]
    vm_a, vm_b = uid(kube, "VirtualMachineInstance", "vm-a"), uid(kube, "VirtualMachine", "vm-b")
    edited = json.dumps({**json.loads(ours), "mtu": 1280})
    kube.merge_patch("NetworkAttachmentDefinition", "lan", {"spec": {"config": edited}}, VM_NAMESPACE)
    result = faults.pulumi("up", "--refresh", "--yes", "--skip-preview")
    say(f"NAD edited by hand, `pulumi up --refresh`: exit {result.code}")
    result.check()
    assert live(kube, "NetworkAttachmentDefinition", "lan", VM_NAMESPACE)["spec"]["config"] == ours
    assert uid(kube, "VirtualMachineInstance", "vm-a") != vm_a, "vm-a uses the NAD: it is replaced"
    assert uid(kube, "VirtualMachine", "vm-b") == vm_b, "vm-b uses another NAD"
    assert_converged(faults, kube, nodes)


def test_5_a_daemonset_deleted_by_hand_comes_back_with_up_refresh(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    kube.delete("DaemonSet", "macvtap-cni", "kvm-in-a-pod")
    wait_gone(kube, "DaemonSet", "macvtap-cni", "kvm-in-a-pod")
    faults.pulumi("up", "--refresh", "--yes", "--skip-preview").check()
    live(kube, "DaemonSet", "macvtap-cni", "kvm-in-a-pod")
    assert_converged(faults, kube, nodes)


# --- 6: concurrency -----------------------------------------------------------------------------


def test_6_a_second_up_while_one_runs_is_refused_at_once_with_the_lock_message(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    set_vm_memory(faults, "vm-a", "1100M")  # a replacement that waits for Ready: the first up runs a while
    first = Background(faults, "up", "--yes", "--skip-preview")
    first.wait_for(r"vm-a-vmi\s+creating replacement")
    # While it waits for the VMI: a command started as the first writes its checkpoint may instead
    # fail to read it ("failed to load checkpoint: EOF", seen once with the file backend).
    time.sleep(1)
    second = faults.pulumi("up", "--yes", "--skip-preview")
    assert second.code != 0
    assert "the stack is currently locked by 1 lock(s)" in second.output, second.output
    say(f"second `pulumi up` refused after {second.seconds:.1f} s: {second.output.strip().splitlines()[-1][:200]}")
    first.finish().check()
    assert_converged(faults, kube, nodes)


def test_6_two_vms_stacks_updated_at_the_same_time_on_one_platform_both_converge(faults: Session, kube: Kube) -> None:
    project = faults.project
    teams = ("faults-team-a", "faults-team-b")
    for index, team in enumerate(teams):
        project.pulumi("stack", "init", team).check()
        project.set_config(team, f"{NS}role", "vms")
        project.set_config(team, f"{NS}platformStack", STACK)
        project.set_config(team, f"{NS}vmNamespace", team)
        project.set_config(team, f"{NS}vms", [{"name": f"vm-{index}", "memory": "1024M", "macvtap": [{"network": "lan"}]}])
    try:
        runs = [Background(faults_for(faults, team), "up", "--yes", "--skip-preview") for team in teams]
        for run in runs:
            run.finish().check()
        for index, team in enumerate(teams):
            live(kube, "VirtualMachineInstance", f"vm-{index}", team)
            faults.pulumi("preview", "--expect-no-changes", stack=team).check()
    finally:
        runs = [Background(faults_for(faults, team), "destroy", "--yes", "--skip-preview") for team in teams]
        for run in runs:
            run.finish()
        for team in teams:
            project.pulumi("stack", "rm", "--yes", stack=team)


def faults_for(session: Session, stack: str) -> Session:
    other = Session(session.project, stack, session.ssh_key, session.real_binary)
    other.results = session.results
    return other


# --- 2: SIGINT once -----------------------------------------------------------------------------


def test_2_one_sigint_leaves_state_and_cluster_agreeing_and_the_next_up_converges(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    set_vm_memory(faults, "vm-a", "1200M")
    new_binary(faults, "sigint")
    run = Background(faults, "up", "--yes", "--skip-preview")
    run.wait_for(r"vm-a-vmi\s+creating replacement")
    run.send(signal.SIGINT)
    interrupted = run.finish()
    in_cluster = kube.get("VirtualMachineInstance", "vm-a", VM_NAMESPACE)
    cluster_memory = None if in_cluster is None else in_cluster["spec"]["domain"]["resources"]["requests"]["memory"]
    say(
        f"one SIGINT: `pulumi up` exits {interrupted.code}: {interrupted.output.strip().splitlines()[-1][:200]};"
        f" vm-a in the cluster: {cluster_memory or 'absent'}"
    )
    assert interrupted.code != 0
    assert state_leftovers(faults) == ([], [])
    assert vmi_memory_in_state(faults, "vm-a-vmi") == cluster_memory
    faults.pulumi("up", "--yes", "--skip-preview").check()
    assert_converged(faults, kube, nodes)


def vmi_memory_in_state(session: Session, resource: str) -> str | None:
    """The memory request the state records for the VMI ``resource``, or None if the state has no live such VMI.

    A VMI whose delete-before-replace was cut between its delete and its create stays in the state with
    ``pendingReplacement`` ("delete-before-replace resources that have been deleted but not yet recreated",
    pulumi sdk/go/common/apitype/core.go ResourceV3): it is not in the cluster, and the next `up` creates it
    (found by make e2e, when the SIGINT came in that gap).
    """
    for recorded in session.project.export_state(session.stack)["deployment"].get("resources") or []:
        if recorded["urn"].endswith(f"::{resource}") and not recorded.get("delete") and not recorded.get("pendingReplacement"):
            memory: str = recorded["outputs"]["spec"]["domain"]["resources"]["requests"]["memory"]
            return memory
    return None


# --- 3: the API server goes away ------------------------------------------------------------------


def test_3_the_api_server_stopped_for_30_s_during_up_then_the_next_up_converges(
    faults: Session, kube: Kube, nodes: list[Node], control_plane: ControlPlane
) -> None:
    set_vm_memory(faults, "vm-a", "1300M")
    run = Background(faults, "up", "--yes", "--skip-preview")
    run.wait_for(r"vm-a-vmi\s+(deleting|creating)")
    control_plane.apiserver.stop()
    time.sleep(30)
    control_plane.start_apiserver()
    during = run.finish()
    server = control_plane.server.removeprefix("https://")
    say(f"API server down 30 s: `pulumi up` exits {during.code} after {during.seconds:.0f} s; names {server}: {server in during.output}")
    if during.code != 0:
        assert server in during.output, during.output[-3000:]
    faults.pulumi("up", "--yes", "--skip-preview").check()
    assert_converged(faults, kube, nodes)


# --- 1: SIGKILL ---------------------------------------------------------------------------------


def state_leftovers(session: Session) -> tuple[list[str], list[tuple[str, str]]]:
    """What a killed CLI leaves: lock files, and the checkpoint's pending operations (type, resource name)."""
    locks = sorted(str(p.relative_to(session.project.home)) for p in (session.project.home / "state").rglob("locks/**/*.json"))
    pending = session.project.export_state(session.stack)["deployment"].get("pending_operations") or []
    return locks, [(op["type"], op["resource"]["urn"].rsplit("::", 1)[1]) for op in pending]


def recover_from_a_kill(session: Session) -> list[str]:
    """The README's steps after a killed CLI: the lock, then the pending creates; what each printed."""
    seen = []
    refused = session.pulumi("up", "--yes", "--skip-preview")
    assert refused.code != 0 and "the stack is currently locked by 1 lock(s)" in refused.output
    seen.append(f"`pulumi up` refused: {next(line for line in refused.output.splitlines() if 'locked' in line).strip()}")
    session.pulumi("cancel", "--yes").check()
    return seen


def test_1a_sigkill_after_the_copy_to_a_node_before_its_install(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    new_binary(faults, "kill-1a")
    run = Background(faults, "up", "--yes", "--skip-preview")
    run.wait_for(r"macvtap-cni-node0\d-copy\s+created replacement")
    run.send(signal.SIGKILL)
    run.finish()
    locks, pending = state_leftovers(faults)
    assert locks and any(op == "creating" and name.endswith("-copy") for op, name in pending), (locks, pending)
    say(f"SIGKILL after a copy: locks {locks}, pending {pending}")
    for line in recover_from_a_kill(faults):
        say(line)
    # The copies are redone by the update; what is left is the record of the interrupted ones.
    faults.pulumi("refresh", "--yes", "--clear-pending-creates").check()
    result = faults.pulumi("up", "--yes", "--skip-preview")
    say(f"after `pulumi cancel` and `pulumi refresh --clear-pending-creates`, `pulumi up` exits {result.code}")
    result.check()
    assert_converged(faults, kube, nodes)


def test_1b_sigkill_while_a_vmi_is_awaited(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    set_vm_memory(faults, "vm-a", "1400M")
    run = Background(faults, "up", "--yes", "--skip-preview")
    run.wait_for(r"vm-a-vmi\s+creating replacement")
    deadline = time.monotonic() + 30
    while vmi_memory(kube, "vm-a") != "1400M":
        assert time.monotonic() < deadline, "the new VMI was not created"
        time.sleep(0.1)
    run.send(signal.SIGKILL)
    run.finish()
    locks, pending = state_leftovers(faults)
    assert locks and ("creating", "vm-a-vmi") in pending
    say(f"SIGKILL while vm-a is awaited: locks {locks}, pending {pending}")
    for line in recover_from_a_kill(faults):
        say(line)
    naive = faults.pulumi("up", "--yes", "--skip-preview")
    say(f"then a plain `pulumi up` exits {naive.code}: {first_error(naive)}")
    # VMIs are created without upsert (their client-side-apply provider, vmi_provider.py): the
    # VMI the killed update created must go, then the update creates it again.
    assert "already exists" in naive.output
    faults.pulumi("refresh", "--yes", "--clear-pending-creates").check()
    kube.delete("VirtualMachineInstance", "vm-a", VM_NAMESPACE)
    wait_gone(kube, "VirtualMachineInstance", "vm-a", VM_NAMESPACE)
    result = faults.pulumi("up", "--yes", "--skip-preview")
    say(f"after `pulumi refresh --clear-pending-creates` and `kubectl delete vmi -n {VM_NAMESPACE} vm-a`, `pulumi up` exits {result.code}")
    result.check()
    assert vmi_memory(kube, "vm-a") == "1400M"
    assert_converged(faults, kube, nodes)


def vmi_memory(kube: Kube, name: str) -> str | None:
    vmi = kube.get("VirtualMachineInstance", name, VM_NAMESPACE) or {}
    memory = vmi.get("spec", {}).get("domain", {}).get("resources", {}).get("requests", {}).get("memory")
    return str(memory) if memory is not None else None


def first_error(result: PulumiResult) -> str:
    lines = [line.strip() for line in result.output.splitlines() if "error" in line.lower() and "grpc" not in line.lower()]
    return lines[0][:300] if lines else "(no error line)"


def test_1c_sigkill_in_the_middle_of_destroy(faults: Session, kube: Kube, nodes: list[Node]) -> None:
    run = Background(faults, "destroy", "--yes", "--skip-preview")
    run.wait_for(r"deleted")
    run.send(signal.SIGKILL)
    run.finish()
    locks, pending = state_leftovers(faults)
    say(f"SIGKILL in destroy: locks {locks}, pending {pending}")
    refused = faults.pulumi("destroy", "--yes", "--skip-preview")
    assert refused.code != 0 and "locked" in refused.output
    faults.pulumi("cancel", "--yes").check()
    faults.pulumi("destroy", "--yes", "--skip-preview").check()
    assert not kube.list("VirtualMachineInstance", VM_NAMESPACE) and not kube.list("NetworkAttachmentDefinition", VM_NAMESPACE)
    for node in nodes:
        assert node_file(node, f"{CNI_BIN_DIR}/macvtap") is None, node.name
    faults.pulumi("up", "--yes", "--skip-preview").check()  # the stack back, for the fixture's own destroy
    assert_converged(faults, kube, nodes)
