"""Claims a user checks about the offline plan (``python -m offline.plan STACK --out DIR ...``).

- dev renders cleanly against ../shared/schemas: exit 0, every Kubernetes object validated with
  no error, no mandatory policy violation, exactly the expected files.
- lab renders cleanly with ``--set`` pointing cniBinaryPath at a file and a placeholder for the
  SSH key (said on stdout); per node, ``nodes/<node>.sh`` holds the exact create and delete
  commands and the connection's host, port, user and host key, the private key redacted.
- Each manifest holds exactly the object the program registered (apiVersion, kind, metadata,
  spec...), and the files are numbered in the order the graph implies: every object after the
  manifests it depends on, each shared NAD before every VM that uses it, the KubeVirt CR after its
  operator manifest, the namespace before the objects in it.
- Remote manifests are reference files naming the URL (and the Multus image the transform
  pins); a local manifest override is shown as applied (after the recorded transforms) and its objects are schema-checked.
- graph.mmd is a mermaid flowchart with a subgraph per component and one edge per dependency.
- Two renders are byte-identical; a re-render replaces the whole directory.
- No secret (the placeholder, or a real key such as FAKE_SSH_KEY) appears in any file; if one
  did, the run fails and removes the directory.
- A schema error or a mandatory policy violation exits 1, naming the object and path, or the
  policy; ``--policy-config`` replaces the stack's policy config.
- Config errors exit 2 with the program's RunError message and no traceback, and so does a
  stack the Pulumi CLI would refuse (with the CLI's message); a `secure:` value of any key is
  planned as a secret or refused as `pulumi up` refuses it, never a traceback; so do usage
  errors (bad ``--set``, unknown stack or policy, missing schema directory, an --out that is
  not a plan directory, which is left untouched).
- Offline, without ``--schemas`` and with nothing cached, the KubeVirt and NAD kinds are reported
  as not validated (saying so, per object), never valid. (Downloads, the cache and mirrors:
  tests/test_schema_source.py.)
- A stack whose ssh-mode CNI binary is missing (a fresh clone has no build/macvtap) still plans: exit 0,
  one stdout line naming the path and what ``pulumi up`` needs, every Kubernetes object exactly as with
  the binary, the node scripts showing the path as configured and a placeholder's sha256; two such
  runs are byte-identical. The program itself (what ``pulumi up`` runs) still refuses the missing file.
- A VirtualMachine (lab's web1) is validated against the swagger's v1.VirtualMachine, with 0 errors;
  dev with both VMs as VirtualMachines renders with 0 schema errors and no policy violation.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from offline import plan, plan_inputs
from offline.engine import PROJECT_ROOT, Recording, record_stack, unwrap_secrets
from offline.render import Redactor, is_kubernetes_object, json_numbers, project_relative
from tests import plan_runs, upstream
from tests.conftest import FAKE_SSH_KEY, SSH_KEY_CONFIG, stack_value
from tests.plan_runs import Run
from tests.recorded import inputs

# Upstream's swagger and NAD CRD, from ../shared or the user's cache (a download if need be):
# tests/upstream.py, the way the plan gets them.
upstream_schemas = upstream.schemas_or_skip


DEV_MANIFESTS = [
    "001-remote-kubevirt-operator.txt",
    "002-kubevirt-kubevirt-kubevirt.yaml",
    "003-namespace-_cluster-kvm-in-a-pod.yaml",
    "004-configmap-kvm-in-a-pod-macvtap-deviceplugin-config.yaml",
    "005-serviceaccount-kvm-in-a-pod-macvtap-cni.yaml",
    "006-daemonset-kvm-in-a-pod-macvtap-cni.yaml",
    "007-remote-multus-manifest.txt",
    "008-networkattachmentdefinition-default-dataplane.yaml",
    "009-virtualmachineinstance-default-vm1.yaml",
    "010-virtualmachineinstance-default-vm2.yaml",
]
REPORTS = ["graph.mmd", "policy-report.json", "policy-report.txt", "schema-report.json", "schema-report.txt"]


def run_plan(out: Path, stack: str, *args: str) -> Run:
    """The plan with ``--offline``: these tests never reach the network (the cache is a temp dir)."""
    return plan_runs.run_plan(out, stack, "--offline", *args)


def macvtap_with(**fields: Any) -> str:
    """``--set`` for the dev stack's macvtap key with ``lowerDevices[0]`` fields replaced."""
    macvtap = stack_value("dev", "macvtap")
    macvtap["lowerDevices"][0].update(fields)
    return f"kvm-in-a-pod:macvtap={json.dumps(macvtap)}"


@pytest.fixture(scope="module")
def lab_set(fake_cni_binary: Path) -> str:
    return lab_with_binary(fake_cni_binary)


@pytest.fixture(scope="module")
def dev_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_plan(tmp_path_factory.mktemp("plan") / "dev", "dev", "--schemas", upstream_schemas())


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory, lab_set: str) -> Run:
    return run_plan(tmp_path_factory.mktemp("plan") / "lab", "lab", "--schemas", upstream_schemas(), "--set", lab_set)


def numbered(run: Run) -> dict[str, int]:
    """Pulumi resource name -> manifest number, from each manifest's header line."""
    numbers = {}
    for name in run.files():
        if name.startswith("manifests/"):
            header = re.match(r"# (\d+) (\S+) \(", run.read(name))
            assert header, name
            numbers[header[2]] = int(header[1])
    return numbers


# --- clean renders ------------------------------------------------------------------------


def test_dev_renders_cleanly(dev_run: Run) -> None:
    assert dev_run.code == 0, dev_run.stderr
    assert dev_run.stderr == ""
    assert dev_run.files() == sorted([".offline-plan", *REPORTS, *(f"manifests/{m}" for m in DEV_MANIFESTS)])
    assert "schemas: 8 validated, 0 errors in 0 objects, 2 not validated" in dev_run.stdout
    assert "policies: 0 mandatory, 0 advisory violations (policies/config/dev.json)" in dev_run.stdout
    assert "VMs: default/vm1, default/vm2" in dev_run.stdout
    assert "nodes: none" in dev_run.stdout
    assert re.search(r"took \d+\.\d\ds", dev_run.stdout)


def test_lab_renders_cleanly_with_a_placeholder_key(lab_run: Run) -> None:
    assert lab_run.code == 0, lab_run.stderr
    assert "kvm-in-a-pod:sshPrivateKey is not readable from Pulumi.lab.yaml" in lab_run.stdout
    assert "planned with a placeholder value" in lab_run.stdout
    assert "schemas: 10 validated, 0 errors in 0 objects, 2 not validated" in lab_run.stdout
    assert "VMs: default/db1, default/web1" in lab_run.stdout
    assert "policies: 0 mandatory, 0 advisory violations (policies/config/lab.json)" in lab_run.stdout
    assert "nodes: node01, node02" in lab_run.stdout
    # One private key per remote resource: 2 nodes x (copy + install).
    assert "redacted 4 secret value(s) as [secret]" in lab_run.stdout
    assert [name for name in lab_run.files() if name.startswith("nodes/")] == ["nodes/node01.sh", "nodes/node02.sh"]


def test_schema_report_lists_every_object_and_its_schema(dev_run: Run) -> None:
    report = json.loads(dev_run.read("schema-report.json"))
    assert report["totals"] == {"validated": 8, "invalid": 0, "errors": 0, "notValidated": 2}
    schemas = {obj["kind"]: obj["schema"] for obj in report["objects"]}
    assert schemas["VirtualMachineInstance"] == "kubevirt-v1.9.0-swagger.json#/definitions/v1.VirtualMachineInstance"
    assert schemas["KubeVirt"] == "kubevirt-v1.9.0-swagger.json#/definitions/v1.KubeVirt"
    (crd_file,) = [path.name for path in Path(upstream_schemas()).iterdir() if path.suffix in (".yaml", ".yml")]
    assert schemas["NetworkAttachmentDefinition"] == f"{crd_file} (CRD network-attachment-definitions.k8s.cni.cncf.io, v1)"
    assert schemas["DaemonSet"].startswith("Kubernetes 1.33 strict (kubernetes-validate")
    assert schemas["ConfigFile"] is None


def test_a_stack_of_virtual_machines_renders_validates_and_passes_the_pack(tmp_path: Path) -> None:
    vms = stack_value("dev", "vms")
    vms[0].update(kind="VirtualMachine")
    vms[1].update(kind="VirtualMachine", runStrategy="Halted")
    run = run_plan(tmp_path / "out", "dev", "--schemas", upstream_schemas(), "--set", f"kvm-in-a-pod:vms={json.dumps(vms)}")
    assert run.code == 0, run.stderr
    assert "schemas: 8 validated, 0 errors in 0 objects, 2 not validated" in run.stdout
    assert "policies: 0 mandatory, 0 advisory violations" in run.stdout
    assert [name for name in run.files() if "virtualmachine" in name] == [
        "manifests/009-virtualmachine-default-vm1.yaml",
        "manifests/010-virtualmachine-default-vm2.yaml",
    ]
    assert "runStrategy: Halted" in run.read("manifests/010-virtualmachine-default-vm2.yaml")


def test_a_virtual_machine_is_validated_against_its_own_schema(lab_run: Run) -> None:
    [machine] = [o for o in json.loads(lab_run.read("schema-report.json"))["objects"] if o["kind"] == "VirtualMachine"]
    assert machine["schema"] == "kubevirt-v1.9.0-swagger.json#/definitions/v1.VirtualMachine"
    assert (machine["name"], machine["status"], machine["errors"]) == ("web1", "valid", [])


# --- manifests ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "lab"])
def test_each_manifest_is_the_registered_object(stack: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(f"{stack}_run")
    recording: Recording = request.getfixturevalue(stack)
    written = {}
    for name in run.files():
        if name.startswith("manifests/") and name.endswith(".yaml"):
            obj = yaml.safe_load(run.read(name))
            written[(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj
    registered = {}
    for resource in recording.resources:
        if is_kubernetes_object(resource):
            obj = json_numbers(unwrap_secrets(dict(resource.inputs)))
            registered[(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj
    assert written == registered


def test_manifests_come_after_what_they_depend_on(lab_run: Run, lab: Recording) -> None:
    numbers = numbered(lab_run)
    assert len(numbers) == 12
    for resource in lab.resources:
        for dependency in resource.dependencies:
            name = lab.by_urn(dependency).name
            if resource.name in numbers and name in numbers:
                assert numbers[name] < numbers[resource.name], (name, resource.name)


def test_each_nad_comes_before_the_vms_that_use_it(lab_run: Run, lab: Recording) -> None:
    numbers = numbered(lab_run)
    nad_by_name = {
        inputs(lab, r.name)["metadata"]["name"]: r.name for r in lab.resources if r.type.endswith(":NetworkAttachmentDefinition")
    }
    specs = {"db1-vmi": inputs(lab, "db1-vmi")["spec"], "web1-vm": inputs(lab, "web1-vm")["spec"]["template"]["spec"]}
    for vm, spec in specs.items():
        networks = [n["multus"]["networkName"] for n in spec["networks"] if "multus" in n]
        assert len(networks) == 2
        for network in networks:
            assert numbers[nad_by_name[network]] < numbers[vm]


def test_platform_order_operator_then_cr_and_namespace_first(dev_run: Run) -> None:
    numbers = numbered(dev_run)
    assert numbers["kubevirt-operator"] < numbers["kubevirt-cr"]
    for name in ("macvtap-config", "macvtap-service-account", "macvtap-daemonset"):
        assert numbers["macvtap-namespace"] < numbers[name]


def test_manifest_header_names_what_it_waits_for(dev_run: Run) -> None:
    vmi = dev_run.manifest("009-")
    assert vmi.splitlines()[:2] == [
        "# 009 vm1-vmi (kubernetes:kubevirt.io/v1:VirtualMachineInstance)",
        "# after: 002-kubevirt-kubevirt-kubevirt.yaml, 006-daemonset-kvm-in-a-pod-macvtap-cni.yaml, "
        "008-networkattachmentdefinition-default-dataplane.yaml",
    ]
    assert "      userData: |\n        #cloud-config\n" in vmi  # multi-line strings stay readable


def test_remote_manifests_are_references_with_the_pinned_multus_image(dev_run: Run) -> None:
    operator = dev_run.manifest("001-remote-kubevirt-operator")
    assert "url: https://github.com/kubevirt/kubevirt/releases/download/v1.9.0/kubevirt-operator.yaml\n" in operator
    assert "transform" not in operator
    multus = dev_run.manifest("007-remote-multus-manifest")
    assert (
        "url: https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/v4.3.0/deployments/multus-daemonset-thick.yml\n" in multus
    )
    assert multus.rstrip().endswith(
        "will rewrite a DaemonSet container image ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick "
        "(what upstream's manifest names) to ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick "
        "when the provider applies the manifest (not fetched here, so not shown)"
    )


# --- nodes --------------------------------------------------------------------------------


def test_node_script_holds_the_exact_commands_and_connection(lab_run: Run, lab: Recording) -> None:
    script = lab_run.read("nodes/node02.sh")
    install = inputs(lab, "macvtap-cni-node02-install")
    copy = inputs(lab, "macvtap-cni-node02-copy")
    # The provider writes stdin (the node's install token) to create, not to delete.
    assert f"create)\n# macvtap-cni-node02-install\nprintf %s {shlex.quote(install['stdin'])} | {install['create']}\n;;\n" in script
    assert f"delete)\n# macvtap-cni-node02-install\n{install['delete']}\n;;\n" in script
    assert install["create"].startswith("sudo -n env NODE_NAME=node02 ")
    connection = json.loads(script.split("#    connection: ", 1)[1].split("\n", 1)[0])
    assert connection == {
        "host": "192.0.2.12",
        "port": 2222,
        "user": "kvmadmin",
        "hostKey": stack_value("lab", "nodes")[1]["hostKey"],
        "privateKey": "[secret]",
        "perDialTimeout": 15,
        "dialErrorLimit": 10,
    }
    assert f'#    remotePath: "{copy["remotePath"]}"' in script
    assert f'#    source: {{"fileAsset": "{copy["source"]["fileAsset"]}"}}' in script
    assert "macvtap-cni-node01" not in script


def test_binaries_under_the_project_are_shown_as_the_stack_config_names_them() -> None:
    assert project_relative(str(PROJECT_ROOT / "build" / "macvtap")) == "build/macvtap"
    assert project_relative("/opt/macvtap") == "/opt/macvtap"


def test_node_scripts_are_valid_sh(lab_run: Run) -> None:
    for name in ("nodes/node01.sh", "nodes/node02.sh"):
        subprocess.run(["sh", "-n", str(lab_run.out / name)], check=True)


# --- graph --------------------------------------------------------------------------------


def test_graph_has_a_subgraph_per_component_and_an_edge_per_dependency(lab_run: Run, lab: Recording) -> None:
    graph = lab_run.read("graph.mmd").splitlines()
    assert graph[0] == "flowchart TD"
    components = sorted(r.name for r in lab.resources if r.type.startswith("kvm-in-a-pod:index:"))
    assert sorted(re.findall(r'subgraph r\d+\["\w+: ([\w-]+)"\]', "\n".join(graph))) == components
    edges = {(dep, r.urn) for r in lab.resources for dep in r.dependencies}
    assert len([line for line in graph if " --> " in line]) == len(edges)
    assert '    r0["kubevirt-cr<br/>KubeVirt kubevirt/kubevirt"]' in graph


# --- determinism and secrets ---------------------------------------------------------------


def test_two_renders_are_byte_identical(dev_run: Run, lab_run: Run, lab_set: str, tmp_path: Path) -> None:
    assert run_plan(tmp_path / "dev", "dev", "--schemas", upstream_schemas()).tree() == dev_run.tree()
    assert run_plan(tmp_path / "lab", "lab", "--schemas", upstream_schemas(), "--set", lab_set).tree() == lab_run.tree()


def test_a_rerender_replaces_the_directory(dev_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "dev"
    run_plan(out, "dev")
    (out / "manifests" / "999-stale.yaml").write_text("stale: true\n")
    assert run_plan(out, "dev", "--schemas", upstream_schemas()).tree() == dev_run.tree()


def leaked_fragments(run: Run, secret: str) -> list[tuple[str, str]]:
    fragments = [line for line in secret.splitlines() if len(line) >= 8]
    return [(name, fragment) for name, content in run.tree().items() for fragment in fragments if fragment.encode() in content]


def test_no_file_holds_the_placeholder_key(lab_run: Run) -> None:
    assert leaked_fragments(lab_run, plan_inputs.PLACEHOLDER_SSH_KEY) == []
    assert "PRIVATE KEY" not in lab_run.stdout


def test_no_file_holds_a_real_key(monkeypatch: pytest.MonkeyPatch, lab_set: str, tmp_path: Path) -> None:
    monkeypatch.setattr(plan_inputs, "PLACEHOLDER_SSH_KEY", FAKE_SSH_KEY)
    run = run_plan(tmp_path / "lab", "lab", "--set", lab_set)
    assert run.code == 0, run.stderr
    assert leaked_fragments(run, FAKE_SSH_KEY) == []


def test_a_leaked_secret_fails_the_run_and_removes_the_directory(monkeypatch: pytest.MonkeyPatch, lab_set: str, tmp_path: Path) -> None:
    def leak(self: Redactor, connection: Any) -> Any:
        return connection["value"]

    monkeypatch.setattr(Redactor, "redact_connection", leak)
    run = run_plan(tmp_path / "lab", "lab", "--set", lab_set)
    assert run.code == 1
    assert "error: a secret value appeared in nodes/node01.sh, nodes/node02.sh" in run.stderr
    assert not run.out.exists()


# --- a missing CNI binary ------------------------------------------------------------------


def lab_with_binary(path: Path) -> str:
    """The ``--set`` that points the lab stack's ``macvtap.cniBinaryPath`` at ``path``."""
    macvtap = stack_value("lab", "macvtap")
    macvtap["cniBinaryPath"] = str(path)
    return f"kvm-in-a-pod:macvtap={json.dumps(macvtap)}"


@pytest.fixture(scope="module")
def missing_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-binary") / "build" / "macvtap"


@pytest.fixture(scope="module")
def placeholder_run(tmp_path_factory: pytest.TempPathFactory, missing_binary: Path) -> Run:
    return run_plan(
        tmp_path_factory.mktemp("plan") / "lab", "lab", "--schemas", upstream_schemas(), "--set", lab_with_binary(missing_binary)
    )


def test_a_missing_cni_binary_is_planned_with_a_placeholder_said_on_stdout(placeholder_run: Run, missing_binary: Path) -> None:
    assert placeholder_run.code == 0, placeholder_run.stderr
    (said,) = [line for line in placeholder_run.stdout.splitlines() if "cniBinaryPath" in line]
    assert said.startswith(f"  cniBinaryPath: {missing_binary} is not a file here; planned with a placeholder binary (sha256 ")
    assert said.endswith(f'pulumi up -s lab needs the macvtap CNI binary at {missing_binary} (README, "Stacks", says how to get it)')


def test_the_kubernetes_objects_are_the_same_as_with_the_binary(placeholder_run: Run, lab_run: Run) -> None:
    manifests = [name for name in lab_run.files() if name.startswith("manifests/")]
    assert [name for name in placeholder_run.files() if name.startswith("manifests/")] == manifests
    assert {name: placeholder_run.read(name) for name in manifests} == {name: lab_run.read(name) for name in manifests}
    assert placeholder_run.read("schema-report.json") == lab_run.read("schema-report.json")


def test_the_node_scripts_show_the_configured_path_and_the_placeholder_hash(placeholder_run: Run, missing_binary: Path) -> None:
    script = placeholder_run.read("nodes/node01.sh")
    placeholder_sha = hashlib.sha256(plan_inputs.PLACEHOLDER_BINARY).hexdigest()
    assert f'#    source: {{"fileAsset": "{missing_binary}"}}' in script
    assert f"BINARY_SHA256={placeholder_sha}" in script
    assert "kvm-in-a-pod-plan-" not in script  # the stand-in's own (temporary) path is never shown


def test_two_placeholder_runs_are_byte_identical(placeholder_run: Run, missing_binary: Path, tmp_path: Path) -> None:
    again = run_plan(tmp_path / "lab", "lab", "--schemas", upstream_schemas(), "--set", lab_with_binary(missing_binary))
    assert again.tree() == placeholder_run.tree()


def test_the_program_still_refuses_a_missing_cni_binary(missing_binary: Path) -> None:
    macvtap = {**stack_value("lab", "macvtap"), "cniBinaryPath": str(missing_binary)}
    with pytest.raises(pulumi.RunError, match=f"kvm-in-a-pod:macvtap.cniBinaryPath: '{missing_binary}' is not a file"):
        record_stack("lab", config_overrides={"kvm-in-a-pod:macvtap": macvtap}, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY})


# --- failures -----------------------------------------------------------------------------

BROKEN_MANIFEST = """\
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {name: bad-vm, namespace: default}
spec:
  domain:
    devices:
      interfaces:
      - {name: default, masquerade: {}}
      - {name: hostnet, bindng: {name: macvtap}}
  networks:
  - {name: default, pod: {}}
  - {name: hostnet, multus: {networkName: dataplane}}
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: dataplane, namespace: default}
spec:
  config: {cniVersion: 0.3.1, type: macvtap}
"""


def test_schema_errors_exit_1_naming_object_and_path(tmp_path: Path) -> None:
    manifest = tmp_path / "multus.yaml"
    manifest.write_text(BROKEN_MANIFEST)
    multus = {"install": True, "version": "v4.3.0", "manifest": str(manifest)}
    run = run_plan(tmp_path / "out", "dev", "--schemas", upstream_schemas(), "--set", f"kvm-in-a-pod:multus={json.dumps(multus)}")
    assert run.code == 1
    local = "manifests/007-local-multus-manifest.yaml"
    assert run.stderr.splitlines() == [
        f"schema error: {local} (VirtualMachineInstance default/bad-vm): spec.domain.devices.interfaces[1].bindng: unknown field",
        f"schema error: {local} (NetworkAttachmentDefinition default/dataplane): spec.config: must be string, not object",
    ]
    assert [doc for doc in yaml.safe_load_all(run.read(local)) if doc] == [doc for doc in yaml.safe_load_all(BROKEN_MANIFEST) if doc]
    assert "schemas: 10 validated, 2 errors in 2 objects, 1 not validated" in run.stdout
    assert "               spec.domain.devices.interfaces[1].bindng: unknown field" in run.read("schema-report.txt")


def test_mandatory_policy_violation_exits_1_naming_the_policy(tmp_path: Path) -> None:
    run = run_plan(tmp_path / "out", "dev", "--set", macvtap_with(capacity=1))
    assert run.code == 1
    assert run.stderr.startswith(
        "policy violation: macvtap-capacity (mandatory) on macvtap-config: macvtap resource "
        "'macvtap.network.kubevirt.io/dataplane': the stack's VMs request 2 interfaces"
    )
    assert "policies: 1 mandatory, 0 advisory violations" in run.stdout
    assert "[mandatory] macvtap-capacity on macvtap-config:" in run.read("policy-report.txt")
    assert json.loads(run.read("policy-report.json"))["mandatoryViolations"] == 1


def test_policy_config_option_replaces_the_stack_policy_config(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"macvtap-capacity": {"enforcementLevel": "advisory", "nodeCount": 1}}))
    run = run_plan(tmp_path / "out", "dev", "--policy-config", str(config), "--set", macvtap_with(capacity=1))
    assert run.code == 0, run.stderr
    assert f"policies: 0 mandatory, 1 advisory violations ({config})" in run.stdout
    assert f"(config: {config})" in run.read("policy-report.txt")


def test_config_errors_exit_2_with_the_run_error_message(tmp_path: Path) -> None:
    bad_mode = {"kvm-in-a-pod:macvtap": json.loads(macvtap_with(mode="passthru").split("=", 1)[1])}
    with pytest.raises(pulumi.RunError) as refused:
        record_stack("dev", config_overrides=bad_mode)
    run = run_plan(tmp_path / "out", "dev", "--set", macvtap_with(mode="passthru"))
    assert run.code == 2
    assert run.stderr == f"error: {refused.value}\n"
    assert "kvm-in-a-pod:macvtap.lowerDevices[0].mode: 'passthru' is not allowed" in run.stderr
    assert run.stdout == ""
    assert not run.out.exists()


def test_an_encrypted_value_the_program_would_write_in_plain_text_exits_2_with_its_message(tmp_path: Path) -> None:
    # --set merges into the stack file's values: this is the file holding `vmNamespace: {secure: ...}`.
    run = run_plan(tmp_path / "out", "dev", "--set", 'kvm-in-a-pod:vmNamespace={"secure": "v1:c2FsdA==:Y2lwaGVy"}')
    assert run.code == 2
    assert run.stderr.startswith("error: invalid stack configuration:\n  kvm-in-a-pod:vmNamespace: is stored encrypted, but only")
    assert "Traceback" not in run.stderr
    assert not run.out.exists()


def test_an_encrypted_value_of_another_namespace_is_planned_as_a_secret(tmp_path: Path) -> None:
    run = run_plan(tmp_path / "out", "dev", "--set", 'kubernetes:kubeconfig={"secure": "v1:c2FsdA==:Y2lwaGVy"}')
    assert run.code == 0, run.stderr
    assert "secret: kubernetes:kubeconfig is not readable from Pulumi.dev.yaml" in run.stdout


def test_a_stack_the_cli_would_refuse_exits_2_with_the_clis_message(tmp_path: Path) -> None:
    run = run_plan(tmp_path / "out", "dev", "--set", 'kvm-in-a-pod:vmNamespace=["vms"]')
    assert run.code == 2
    assert run.stderr == "error: validating stack config: Stack 'dev' with configuration key 'vmNamespace' must be of type 'string'\n"
    assert not run.out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nostack"], "error: no stack file Pulumi.nostack.yaml"),
        (["dev", "--set", "kvm-in-a-pod:vms=[oops"], "error: --set kvm-in-a-pod:vms: the value is not JSON"),
        (["dev", "--set", "vms=[]"], "error: --set 'vms=[]': expected KEY=JSON with a full config key"),
        (["dev", "--schemas", "/nonexistent/schemas"], "error: schema directory /nonexistent/schemas does not exist"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    run = run_plan(tmp_path / "out", *args)
    assert run.code == 2
    assert run.stderr.startswith(message)
    assert not run.out.exists()


def test_an_unknown_policy_in_the_policy_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"no-such-policy": "advisory"}))
    run = run_plan(tmp_path / "out", "dev", "--policy-config", str(config))
    assert run.code == 2
    assert run.stderr.startswith(f"error: policy config {config}: policy config names unknown policy 'no-such-policy'")


def test_missing_out_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["dev"]) == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_an_out_directory_that_is_not_a_plan_is_left_untouched(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    run = run_plan(tmp_path, "dev")
    assert run.code == 2
    assert run.stderr.startswith(f"error: refusing to replace {tmp_path}: it is not a plan directory")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


# --- coverage -----------------------------------------------------------------------------


def test_offline_without_schemas_kubevirt_and_nad_kinds_are_not_validated(tmp_path: Path) -> None:
    run = run_plan(tmp_path / "out", "dev")
    assert run.code == 0, run.stderr
    assert "schemas: 4 validated, 0 errors in 0 objects, 6 not validated" in run.stdout
    statuses = {(o["kind"], o["status"]) for o in json.loads(run.read("schema-report.json"))["objects"]}
    assert statuses == {
        ("ConfigFile", "not validated"),
        ("KubeVirt", "not validated"),
        ("NetworkAttachmentDefinition", "not validated"),
        ("VirtualMachineInstance", "not validated"),
        ("Namespace", "valid"),
        ("ConfigMap", "valid"),
        ("ServiceAccount", "valid"),
        ("DaemonSet", "valid"),
    }
    report = run.read("schema-report.txt")
    said = "\n               not validated: offline, no cached schema for"
    assert f"VirtualMachineInstance default/vm1{said} KubeVirt v1.9.0 (use --schemas DIR)" in report
    assert f"NetworkAttachmentDefinition default/dataplane{said} Multus v4.3.0 (use --schemas DIR)" in report


def test_set_null_removes_a_key(tmp_path: Path) -> None:
    run: Callable[..., Run] = run_plan
    result = run(tmp_path / "out", "dev", "--set", "kvm-in-a-pod:vms=null")
    assert result.code == 0, result.stderr
    assert "VMs: none" in result.stdout
    assert not [name for name in result.files() if "virtualmachineinstance" in name]


def test_a_local_multus_manifest_is_shown_as_applied_with_the_pinned_image(tmp_path: Path) -> None:
    fixture = upstream.required(*upstream.MULTUS).path
    multus = {"install": True, "version": "v4.3.0", "manifest": str(fixture)}
    run = run_plan(tmp_path / "out", "dev", "--set", f"kvm-in-a-pod:multus={json.dumps(multus)}")
    assert run.code == 0, run.stderr
    (daemonset,) = [d for d in yaml.safe_load_all(run.read("manifests/007-local-multus-manifest.yaml")) if d and d["kind"] == "DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    assert {c["image"] for c in pod.get("initContainers", []) + pod["containers"]} == {
        "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick"
    }
