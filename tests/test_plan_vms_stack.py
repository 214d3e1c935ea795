"""Claims a user checks about the offline plan of a stack with role vms.

- `make plan STACK=<a vms stack>` works without a backend: the platform stack it names, a stack file of this
  project, is recorded first and its exports are what the StackReference reads; stdout says so.
- The rendered NADs carry the resource names that platform exports; the policy pack runs on the vms stack.
- A reference the plan cannot resolve is refused (exit 2, nothing written) naming `kvm-in-a-pod:platformStack`:
  another project's stack, a stack with no file here, a stack with role vms, the stack itself, and a
  platform stack whose own config is refused (with that stack's key path).
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import plan
from tests.conftest import stack_value

DP_RESOURCE = "k8s.v1.cni.cncf.io/resourceName"


@pytest.fixture(scope="module")
def platform_macvtap(fake_cni_binary: Path) -> dict[str, Any]:
    macvtap: dict[str, Any] = stack_value("platform", "macvtap")
    macvtap["cniBinaryPath"] = str(fake_cni_binary)
    return macvtap


def run_plan(out: Path, stack: str, *args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = plan.main([stack, "--out", str(out), *args])
    return code, stdout.getvalue(), stderr.getvalue()


def test_plan_of_a_vms_stack_reads_the_recorded_platform_stack(tmp_path: Path, platform_macvtap: dict[str, Any]) -> None:
    code, stdout, stderr = run_plan(tmp_path / "team-a", "team-a", "--platform-set", f"kvm-in-a-pod:macvtap={json.dumps(platform_macvtap)}")
    assert code == 0, stderr
    assert "platform: platform read from an offline recording of Pulumi.platform.yaml" in stdout
    assert (
        "resources: 9 (3 components; Namespace 1, NetworkAttachmentDefinition 1, Provider 1, StackReference 1, VirtualMachineInstance 2)"
        in stdout
    )
    assert "policies: 0 mandatory" in stdout
    nad = yaml.safe_load((tmp_path / "team-a" / "manifests" / "002-networkattachmentdefinition-team-a-lan.yaml").read_text())
    assert nad["metadata"]["annotations"][DP_RESOURCE] == "macvtap.network.kubevirt.io/lan"


def test_plan_names_platform_stack_when_the_platform_cannot_be_planned(tmp_path: Path) -> None:
    broken = stack_value("platform", "macvtap")
    broken["lowerDevices"][0]["mode"] = "passthru"
    code, _, stderr = run_plan(tmp_path / "team-b", "team-b", "--platform-set", f"kvm-in-a-pod:macvtap={json.dumps(broken)}")
    assert code == 2
    assert stderr.startswith(
        "error: kvm-in-a-pod:platformStack: 'organization/kvm-in-a-pod/platform': the platform stack platform cannot be planned:"
    )
    assert "kvm-in-a-pod:macvtap.lowerDevices[0].mode: 'passthru' is not allowed" in stderr


def test_a_platform_without_its_cni_binary_is_planned_with_a_placeholder_said_on_stdout(tmp_path: Path) -> None:
    missing = {**stack_value("platform", "macvtap"), "cniBinaryPath": str(tmp_path / "absent" / "macvtap")}
    code, stdout, stderr = run_plan(tmp_path / "team-b", "team-b", "--platform-set", f"kvm-in-a-pod:macvtap={json.dumps(missing)}")
    assert code == 0, stderr
    assert f"  cniBinaryPath of Pulumi.platform.yaml: {missing['cniBinaryPath']} is not a file here" in stdout
    assert "pulumi up -s platform needs the macvtap CNI binary" in stdout


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("acme/infra/platform", "is a stack of another project; only stacks of this project (kvm-in-a-pod) can be planned offline"),
        ("staging", "no stack file Pulumi.staging.yaml"),
        ("team-b", "is a stack with role vms; a platform stack has role platform or all"),
        ("team-a", "is this stack itself"),
    ],
)
def test_plan_refuses_a_reference_it_cannot_resolve(tmp_path: Path, reference: str, words: str) -> None:
    code, stdout, stderr = run_plan(tmp_path / "out", "team-a", "--set", f"kvm-in-a-pod:platformStack={json.dumps(reference)}")
    assert (code, stdout) == (2, "")
    assert stderr.startswith(f"error: kvm-in-a-pod:platformStack: {reference!r}")
    assert words in stderr
    assert not (tmp_path / "out").exists()
