"""The program under the real Pulumi engine, against a real API server and real SSH nodes.

Claims a user would check, one test each, in the order a user meets them (the tests share one
stack and run in file order):

1. `pulumi preview` of the shipped dev and lab stacks passes the CLI's config validation;
2. `pulumi up` from empty creates exactly the offline plan's objects with our values, pins the
   Multus image, and installs the CNI binary on both nodes (mode 0755; it answers VERSION);
   and those objects, with the binary it installed on each node, make working VM NICs: the
   dataplane suite's nodes, device plugin, CNI and qemu guests run on them (README, "The
   dataplane, for real");
3. `up` waits for KubeVirt's conditions, and fails with a clear timeout naming the VM when one
   never comes;
4. a second preview after the server's defaulting shows no changes;
5. the policy pack runs from the README's commands on a fresh copy, passes with the stack's
   policy config, and fails naming the policy when a mandatory one is broken;
6. a new CNI binary is installed on both nodes and changes nothing in Kubernetes;
7. a VM change touches only that VM: a VMI is replaced (never updated in place), a NAD change
   replaces the VMIs using it, and a VirtualMachine is updated and flagged RestartRequired;
8. with node02's sshd down, `up` fails naming node02 while node01 converges; with node02 back
   as a fresh node, `up` converges and a preview shows no changes;
9. `destroy` leaves no object of ours in the API server and no binary or staged copy on a node;
10. the SSH private key appears in no state file, log or rendered file;
11. a platform stack and a `vms` stack that references it deploy and destroy together.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dataplane.claims import assert_nics_are_as_the_objects_say, assert_registers_exactly_the_nads_resources, lan_host, reach, start
from tests.dataplane.fixtures import running_dataplane
from tests.dataplane.guest import GuestImage
from tests.dataplane.objects import from_api_server
from tests.dataplane.prerequisites import DataplaneTools
from tests.e2e.controlplane import ControlPlane
from tests.e2e.kube import Kube
from tests.e2e.nodes import CNI_BIN_DIR, STAGING_DIR, Node, host_interface
from tests.e2e.processes import Server
from tests.e2e.settings import DOUBLE_DELAY_SECONDS, NEVER_READY_PREFIX
from tests.e2e.stack import NS, Session, live, new_session, node_file
from tests.e2e.tools import Toolchain
from tests.upstream import schema_directory

STACK = "e2e"
MULTUS_PINNED_IMAGE = "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick"
FAKE_BINARY_V1 = b"#!/bin/sh\n# kvm-in-a-pod e2e: not a CNI plugin, version 1\n"
FAKE_BINARY_V2 = b"#!/bin/sh\n# kvm-in-a-pod e2e: not a CNI plugin, version 2\n"


@pytest.fixture(scope="module")
def session(
    toolchain: Toolchain, tools: DataplaneTools, control_plane: ControlPlane, kubevirt_double: Server, nodes: list[Node], e2e_dir: Path
) -> Iterator[Session]:
    # The real CNI, from the same release as the device plugin the dataplane step runs.
    yield new_session(e2e_dir, STACK, toolchain, control_plane.kubeconfig, nodes, tools.cni)


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_policy_commands(stack: str, policy_config: Path) -> list[str]:
    """The shell lines of the README's policy-pack section, for this stack and policy config."""
    text = README.read_text()
    section = text.split("## Policy pack", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert any("--policy-pack policies" in line for line in lines), lines
    return [re.sub(r"policies/config/\w+\.json", str(policy_config), re.sub(r"-s \w+", f"-s {stack}", line)) for line in lines]


def assert_subset(expected: Any, actual: Any, path: str = "") -> None:
    """Every field we set has our value in the live object (the server may add more)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key}: missing in the live object"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(want, got, f"{path}[{index}]")
    elif expected == "[secret]":
        return
    else:
        assert expected == actual or str(expected) == str(actual), f"{path}: live {actual!r} != planned {expected!r}"


def planned_objects(session: Session, out: Path) -> list[dict[str, Any]]:
    """The offline plan of the same stack, run as a user would in the project copy."""
    result = subprocess.run(
        [str(session.project.root / "venv" / "bin" / "python"), "-m", "offline.plan", STACK, "--out", str(out),
         "--schemas", str(schema_directory(out.parent / "upstream-schemas")), "--offline"],
        cwd=session.project.root, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode in (0, 1), f"offline plan failed: {result.stdout}{result.stderr}"
    objects: list[dict[str, Any]] = []
    for path in sorted((out / "manifests").glob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


def resource_versions(kube: Kube, objects: list[dict[str, Any]]) -> dict[str, str]:
    versions = {}
    for obj in objects:
        meta = obj["metadata"]
        current = live(kube, obj["kind"], meta["name"], meta.get("namespace"))
        versions[f"{obj['kind']}/{meta.get('namespace')}/{meta['name']}"] = current["metadata"]["resourceVersion"]
    return versions


# --- 1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shipped", ["dev", "lab"])
def test_01_shipped_stacks_pass_cli_config_validation(session: Session, shipped: str) -> None:
    project = session.project
    document = yaml.safe_load((project.root / f"Pulumi.{shipped}.yaml").read_text())
    stack = f"shipped-{shipped}"
    project.pulumi("stack", "init", stack).check()
    # The shipped file, pointed only at the fixture manifests (no internet here).
    config = dict(document["config"])
    config[f"{NS}kubevirt"] = {**config[f"{NS}kubevirt"], "operatorManifest": "e2e-fixtures/kubevirt-operator.yaml"}
    config[f"{NS}multus"] = {**config.get(f"{NS}multus", {}), "manifest": "e2e-fixtures/multus-daemonset-thick.yml"}
    stack_file = yaml.safe_load(project.stack_file(stack).read_text()) or {}
    stack_file["config"] = config
    project.stack_file(stack).write_text(yaml.safe_dump(stack_file, sort_keys=False))
    if shipped == "lab":  # what the lab stack's README section asks the user for, nothing more
        (project.root / "build").mkdir(exist_ok=True)
        (project.root / "build" / "macvtap").write_bytes(FAKE_BINARY_V1)
        project.set_secret(stack, f"{NS}sshPrivateKey", session.ssh_key)
    result = session.pulumi("preview", stack=stack)
    assert "validating stack config" not in result.output, result.output
    result.check()
    project.pulumi("stack", "rm", "--yes", "--force", stack=stack).check()


# --- 2, 3 ---------------------------------------------------------------------------------------


def test_02_up_from_empty_creates_the_planned_objects(session: Session, kube: Kube, e2e_dir: Path) -> None:
    result = session.pulumi("up", "--yes", "--skip-preview")
    result.check()
    objects = planned_objects(session, e2e_dir / "plan")
    assert objects, "the offline plan listed no objects"
    for obj in objects:
        meta = obj["metadata"]
        assert_subset(obj, live(kube, obj["kind"], meta["name"], meta.get("namespace")), f"{obj['kind']}/{meta['name']}")
    session.up_finished = time.time()  # type: ignore[attr-defined]


def test_02_multus_image_is_pinned(kube: Kube) -> None:
    daemonset = live(kube, "DaemonSet", "kube-multus-ds", "kube-system")
    pod = daemonset["spec"]["template"]["spec"]
    images = {c["image"] for c in pod.get("initContainers", []) + pod["containers"]}
    assert images == {MULTUS_PINNED_IMAGE}


def test_02_binary_is_installed_on_both_nodes(session: Session, nodes: list[Node]) -> None:
    want = hashlib.sha256(session.binary().read_bytes()).hexdigest()
    for node in nodes:
        assert node_file(node, f"{CNI_BIN_DIR}/macvtap") == ("755", want), node.name
    for node in nodes:
        code, out = node.ssh(f"CNI_COMMAND=VERSION {CNI_BIN_DIR}/macvtap")
        assert code == 0 and "supportedVersions" in out, f"{node.name}: {out}"


def test_02_the_objects_and_binaries_up_installed_make_working_vm_nics(
    session: Session, kube: Kube, nodes: list[Node], tools: DataplaneTools, guest_image: GuestImage, accelerator: str
) -> None:
    """The dataplane suite's claims 1, 2 and 4, on what `pulumi up` put in the API server and the
    CNI binary it installed on each node over SSH: vm-a on node01, vm-b on node02."""
    names = [node.name for node in nodes]
    objects = from_api_server(kube, ["vms-e2e"], "kvm-in-a-pod", names)
    installed = {node.name: node.path_on_node(f"{CNI_BIN_DIR}/macvtap") for node in nodes}
    with running_dataplane("e2e", objects, tools, guest_image, accelerator, dict.fromkeys(names, ()), installed=installed) as dataplane:
        start(dataplane, "e2e", {"vm-a": "node01", "vm-b": "node02"})
        assert_registers_exactly_the_nads_resources(dataplane, names)
        for running in dataplane.vms.values():
            assert_nics_are_as_the_objects_say(running, dataplane)
        assert reach(dataplane, "vm-a", "vm-b", "lan") and reach(dataplane, "vm-b", "vm-a", "lan")
        assert dataplane.ping("vm-a", lan_host(dataplane, "lan")) and dataplane.ping("vm-b", lan_host(dataplane, "lan"))


def test_03_up_returned_only_after_kubevirt_conditions(kube: Kube) -> None:
    """Right after `up` returned, everything it waits for is ready: it did wait (the double
    sets conditions only some seconds after an object appears)."""
    kubevirt = live(kube, "KubeVirt", "kubevirt", "kubevirt")
    assert {c["type"]: c["status"] for c in kubevirt["status"]["conditions"]}["Available"] == "True"
    vmi = live(kube, "VirtualMachineInstance", "vm-a", "vms-e2e")
    assert {c["type"]: c["status"] for c in vmi["status"]["conditions"]}["Ready"] == "True"
    vm = live(kube, "VirtualMachine", "vm-b", "vms-e2e")
    assert {c["type"]: c["status"] for c in vm["status"]["conditions"]}["Ready"] == "True"
    created = vmi["metadata"]["creationTimestamp"]
    ready = next(c["lastTransitionTime"] for c in vmi["status"]["conditions"] if c["type"] == "Ready")
    assert ready > created or DOUBLE_DELAY_SECONDS < 1, (created, ready)


def test_03_up_fails_with_a_timeout_when_a_condition_never_comes(session: Session) -> None:
    project = session.project
    stack = "e2e-stuck"
    project.pulumi("stack", "init", stack).check()
    project.set_config(stack, f"{NS}role", "vms")
    project.set_config(stack, f"{NS}platformStack", STACK)
    project.set_config(stack, f"{NS}vmNamespace", "vms-stuck")
    project.set_config(stack, f"{NS}vms", [{"name": f"{NEVER_READY_PREFIX}vm", "readyTimeoutSeconds": 15, "macvtap": [{"network": "lan"}]}])
    result = session.pulumi("up", "--yes", "--skip-preview", stack=stack)
    assert result.code != 0
    assert re.search(r"timed out|timeout", result.output, re.IGNORECASE), result.output[-3000:]
    assert f"{NEVER_READY_PREFIX}vm" in result.output
    session.pulumi("destroy", "--yes", "--skip-preview", stack=stack).check()
    project.pulumi("stack", "rm", "--yes", stack=stack).check()


# --- 4, 5 ---------------------------------------------------------------------------------------


def test_04_preview_after_server_defaulting_shows_no_changes(session: Session) -> None:
    session.pulumi("preview", "--expect-no-changes", "--diff").check()


def test_05_policy_pack_from_readme_commands_passes(session: Session, e2e_dir: Path) -> None:
    project = session.project
    assert not (project.root / "policies" / "venv").exists(), "the copy must start without policies/venv"
    config = project.root / "policies" / "config" / f"{STACK}.json"
    results = [session.run_readme_command(command) for command in readme_policy_commands(STACK, config)]
    for result in results:
        result.check()
    assert "macvtap-guardrails" in results[-1].output


def test_05_policy_pack_fails_naming_a_broken_mandatory_policy(session: Session, e2e_dir: Path) -> None:
    config = e2e_dir / "policy-broken.json"
    # The VMs ask for 1024M or more: a 512Mi maximum breaks the mandatory vm-resource-limits.
    config.write_text(json.dumps({"macvtap-capacity": {"nodeCount": 2}, "vm-resource-limits": {"maxMemory": "512Mi"}}))
    result = session.run_readme_command(readme_policy_commands(STACK, config)[-1])
    assert result.code != 0
    assert "vm-resource-limits" in result.output


# --- 6 ------------------------------------------------------------------------------------------


def test_06_new_binary_reinstalls_on_both_nodes_and_changes_nothing_in_kubernetes(
    session: Session, kube: Kube, nodes: list[Node], e2e_dir: Path
) -> None:
    objects = planned_objects(session, e2e_dir / "plan-06")
    before = resource_versions(kube, objects)
    new_hash = session.write_binary(FAKE_BINARY_V2 if session.real_binary else FAKE_BINARY_V2 + b"# 2\n")
    session.pulumi("up", "--yes", "--skip-preview").check()
    for node in nodes:
        assert node_file(node, f"{CNI_BIN_DIR}/macvtap") == ("755", new_hash), node.name
        # The staged copy is the new one, and only it, beside the install token (components/node_probe.py).
        code, out = node.ssh(f"ls {STAGING_DIR}")
        assert (code, out.split()) == (0, ["install-token", f"macvtap-cni-{new_hash[:16]}"]), f"{node.name}: {out}"
    assert resource_versions(kube, objects) == before


# --- 7 ------------------------------------------------------------------------------------------


def _vm_config(session: Session) -> list[dict[str, Any]]:
    document = yaml.safe_load(session.project.stack_file(STACK).read_text())
    vms: list[dict[str, Any]] = document["config"][f"{NS}vms"]
    return vms


def _uid(kube: Kube, kind: str, name: str) -> str:
    return str(live(kube, kind, name, "vms-e2e")["metadata"]["uid"])


def test_07_vmi_change_replaces_only_that_vmi(session: Session, kube: Kube) -> None:
    vm_a, vm_b = _uid(kube, "VirtualMachineInstance", "vm-a"), _uid(kube, "VirtualMachine", "vm-b")
    vms = _vm_config(session)
    vms[0]["memory"] = "2Gi"
    session.project.set_config(STACK, f"{NS}vms", vms)
    preview = session.pulumi("preview", "--diff").check()
    # Exactly one replacement, and it is vm-a's VMI (the line after the resource names its id).
    lines = preview.output.splitlines()
    replaced = [lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if line.strip().startswith("+-kubernetes:")]
    assert replaced == ["[id=vms-e2e/vm-a]"], preview.output[-3000:]
    assert "+-kubernetes:kubevirt.io/v1:VirtualMachineInstance: (replace)" in preview.output
    assert "+-1 to replace" in preview.output
    session.pulumi("up", "--yes", "--skip-preview").check()
    assert _uid(kube, "VirtualMachineInstance", "vm-a") != vm_a
    assert live(kube, "VirtualMachineInstance", "vm-a", "vms-e2e")["spec"]["domain"]["resources"]["requests"]["memory"] == "2Gi"
    assert _uid(kube, "VirtualMachine", "vm-b") == vm_b


def test_07_nad_change_replaces_the_vmi_using_it(session: Session, kube: Kube) -> None:
    vm_a, vm_b = _uid(kube, "VirtualMachineInstance", "vm-a"), _uid(kube, "VirtualMachine", "vm-b")
    vms = _vm_config(session)
    # Below the node's lower device and vm-b's MTU: the nodes' MTU check stays as it is.
    host = host_interface()
    assert host is not None
    vms[0]["macvtap"][0]["mtu"] = host.mtu - 100
    session.project.set_config(STACK, f"{NS}vms", vms)
    session.pulumi("up", "--yes", "--skip-preview").check()
    assert _uid(kube, "VirtualMachineInstance", "vm-a") != vm_a
    assert _uid(kube, "VirtualMachine", "vm-b") == vm_b


def test_07_virtual_machine_change_updates_it_and_asks_for_a_restart(session: Session, kube: Kube) -> None:
    before = live(kube, "VirtualMachine", "vm-b", "vms-e2e")
    vms = _vm_config(session)
    vms[1]["memory"] = "2Gi"
    session.project.set_config(STACK, f"{NS}vms", vms)
    session.pulumi("up", "--yes", "--skip-preview").check()
    after = live(kube, "VirtualMachine", "vm-b", "vms-e2e")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        conditions = {c["type"]: c["status"] for c in live(kube, "VirtualMachine", "vm-b", "vms-e2e")["status"]["conditions"]}
        if conditions.get("RestartRequired") == "True":
            break
        time.sleep(0.5)
    assert conditions.get("RestartRequired") == "True"
    outputs = session.project.outputs(STACK)
    assert "virtctl restart" in json.dumps(outputs["vms"])


# --- 8 ------------------------------------------------------------------------------------------


def test_08_unreachable_node_fails_up_naming_it_while_the_other_converges(session: Session, nodes: list[Node]) -> None:
    node01, node02 = nodes
    node02.stop()
    new_hash = session.write_binary(session.binary().read_bytes() + b"# 3\n")
    result = session.pulumi("up", "--yes", "--skip-preview")
    assert result.code != 0
    assert "node02" in result.output
    assert node_file(node01, f"{CNI_BIN_DIR}/macvtap") == ("755", new_hash)
    session.node08_hash = new_hash  # type: ignore[attr-defined]


def test_08_fresh_node_back_converges(session: Session, nodes: list[Node]) -> None:
    node02 = nodes[1]
    node02.start()  # a fresh node: empty tmpfs at /opt/cni/bin and the staging dir
    session.pulumi("up", "--yes", "--skip-preview").check()
    assert node_file(node02, f"{CNI_BIN_DIR}/macvtap") == ("755", session.node08_hash)  # type: ignore[attr-defined]
    session.pulumi("preview", "--expect-no-changes").check()


# --- 9, 10 --------------------------------------------------------------------------------------


def test_09_destroy_leaves_nothing_behind(session: Session, kube: Kube, nodes: list[Node], e2e_dir: Path) -> None:
    objects = planned_objects(session, e2e_dir / "plan-09")
    session.pulumi("destroy", "--yes", "--skip-preview").check()
    left = [f"{o['kind']} {o['metadata'].get('namespace')}/{o['metadata']['name']}" for o in objects
            if kube.get(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) is not None]  # fmt: skip
    assert not left, left
    assert not kube.list("VirtualMachineInstance") and not kube.list("VirtualMachine")
    assert kube.get("DaemonSet", "kube-multus-ds", "kube-system") is None
    for node in nodes:
        assert node_file(node, f"{CNI_BIN_DIR}/macvtap") is None, node.name
        code, out = node.ssh(f"find {STAGING_DIR} -type f")
        assert code == 0 and out.strip() == "", f"{node.name}: staged files left: {out}"


def test_10_ssh_key_is_in_no_state_log_or_rendered_file(session: Session, e2e_dir: Path) -> None:
    key_lines = [line for line in session.ssh_key.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]
    assert key_lines
    state = json.dumps(session.project.export_state(STACK))
    places = {"stack export": state}
    for path in (session.project.home / "state").rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_text(errors="replace")
    for index, result in enumerate(session.results):
        places[f"output of `{' '.join(result.argv[1:4])}` #{index}"] = result.output
    for path in e2e_dir.rglob("plan*/**/*"):
        if path.is_file():
            places[str(path)] = path.read_text(errors="replace")
    leaks = [where for where, text in places.items() if any(line in text for line in key_lines)]
    assert not leaks, leaks
    assert len(places) > 5


# --- 11 -----------------------------------------------------------------------------------------


def test_11_platform_and_vms_stacks_deploy_and_destroy_together(session: Session, kube: Kube, nodes: list[Node]) -> None:
    project = session.project
    config = yaml.safe_load(project.stack_file(STACK).read_text())["config"]
    platform = {key: value for key, value in config.items() if key not in (f"{NS}vms", f"{NS}vmNamespace")}
    project.init_stack("e2e-platform", {**platform, f"{NS}role": "platform"})
    project.set_secret("e2e-platform", f"{NS}sshPrivateKey", session.ssh_key)
    project.init_stack(
        "e2e-team",
        {f"{NS}role": "vms", f"{NS}platformStack": "e2e-platform", f"{NS}vmNamespace": "team-e2e",
         f"{NS}vms": [{"name": "team-vm", "macvtap": [{"network": "lan"}]}]},
    )  # fmt: skip
    session.pulumi("up", "--yes", "--skip-preview", stack="e2e-platform").check()
    session.pulumi("up", "--yes", "--skip-preview", stack="e2e-team").check()
    assert live(kube, "VirtualMachineInstance", "team-vm", "team-e2e")
    assert live(kube, "KubeVirt", "kubevirt", "kubevirt")
    session.pulumi("preview", "--expect-no-changes", stack="e2e-team").check()
    session.pulumi("destroy", "--yes", "--skip-preview", stack="e2e-team").check()
    assert kube.get("VirtualMachineInstance", "team-vm", "team-e2e") is None
    session.pulumi("destroy", "--yes", "--skip-preview", stack="e2e-platform").check()
    assert kube.get("KubeVirt", "kubevirt", "kubevirt") is None
