"""Claims about the real-engine benchmark (benchmarks/engine.py) that hold without the engine.

Timings are not claims; the engine runs only in `make bench-engine`.

- Split into stacks, N VMs become one platform stack then vms stacks of at most 200 VMs that
  name it in platformStack, each in its own namespace, every VM exactly once.
- Every generated stack config is one the program accepts: its recording under the mock engine
  has the VMs it was given (a vms stack reads the platform stack's recorded outputs).
- The floor replays a vms stack too: the StackReference is read again, not registered, and the
  floor's recording equals the program's.
- The stand-in KubeVirt operator manifest brings the namespace and the CRDs of the kinds the
  program registers.
- Without the engine's tools the benchmark says SKIPPED and what is missing, and exits 3 (never a silent 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.engine import NS, VMS_PER_STACK, kubevirt_operator_manifest, main, stack_plan
from benchmarks.engine_report import Cell
from benchmarks.floor import check_replay, replay
from offline.engine import STACK_REFERENCE, record_callable, record_stack


def write_stack(project_dir: Path, stack: str, config: dict[str, Any]) -> None:
    (project_dir / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project files the mock engine reads (program, Pulumi.yaml), plus stand-in manifests."""
    root = Path(__file__).resolve().parents[1]
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("__main__.py", "Pulumi.yaml"):
        (copy / name).write_text((root / name).read_text())
    (copy / "components").symlink_to(root / "components")
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "kubevirt-operator.yaml").write_text(kubevirt_operator_manifest())
    (tmp_path / "fixtures" / "multus-daemonset-thick.yml").write_text("")
    return copy


def test_a_split_is_a_platform_stack_then_vms_stacks_of_at_most_200(tmp_path: Path) -> None:
    plan = stack_plan(Cell(1000, "split", True, "program"), tmp_path, tmp_path / "rendered")
    platform, *vms_stacks = plan
    assert platform[1] == "platform" and platform[3][f"{NS}role"] == "platform"
    assert [vms for _, _, vms, _ in vms_stacks] == [VMS_PER_STACK] * 5
    assert {config[f"{NS}platformStack"] for _, _, _, config in vms_stacks} == {platform[0]}
    assert len({config[f"{NS}vmNamespace"] for _, _, _, config in vms_stacks}) == 5
    names = [vm["name"] for _, _, _, config in vms_stacks for vm in config[f"{NS}vms"]]
    assert sorted(names) == [f"vm{index:04d}" for index in range(1000)]


def test_every_stack_renders_to_its_own_directory(tmp_path: Path) -> None:
    plan = stack_plan(Cell(300, "split", False, "floor"), tmp_path, tmp_path / "rendered")
    directories = [config["kubernetes:renderYamlToDirectory"] for _, _, _, config in plan]
    assert len(set(directories)) == len(plan) == 3


def test_the_generated_stacks_are_accepted_and_the_floor_replays_a_vms_stack(project_copy: Path) -> None:
    fixtures = project_copy.parent / "fixtures"
    platform, vms = stack_plan(Cell(3, "split", True, "program"), fixtures, project_copy.parent / "rendered")
    write_stack(project_copy, platform[0], platform[3])
    write_stack(project_copy, vms[0], vms[3])
    platform_recording = record_stack(platform[0], project_dir=project_copy)
    recording = record_stack(vms[0], project_dir=project_copy, stack_outputs={platform[0]: platform_recording.outputs})
    assert sorted(recording.outputs["vms"]) == ["vm0000", "vm0001", "vm0002"]
    config = {key: value if isinstance(value, str) else json.dumps(value) for key, value in vms[3].items()}
    floor = record_callable(replay(recording), config, stack=vms[0], stack_outputs={platform[0]: platform_recording.outputs})
    check_replay(recording, floor)
    assert [r.type for r in floor.resources].count(STACK_REFERENCE) == 1


def test_the_one_stack_layout_is_accepted_with_every_vm(project_copy: Path) -> None:
    [(stack, role, vms, config)] = stack_plan(Cell(4, "one", False, "program"), project_copy.parent / "fixtures", project_copy.parent)
    write_stack(project_copy, stack, config)
    assert (role, vms) == ("all", 4)
    assert len(record_stack(stack, project_dir=project_copy).outputs["vms"]) == 4


def test_the_stand_in_operator_manifest_brings_the_namespace_and_the_crds() -> None:
    documents = list(yaml.safe_load_all(kubevirt_operator_manifest()))
    assert {(d["kind"], d["metadata"]["name"]) for d in documents} == {
        ("Namespace", "kubevirt"),
        ("CustomResourceDefinition", "kubevirts.kubevirt.io"),
        ("CustomResourceDefinition", "virtualmachineinstances.kubevirt.io"),
        ("CustomResourceDefinition", "virtualmachines.kubevirt.io"),
    }


def test_without_the_tools_the_benchmark_skips_and_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("KVM_E2E_BIN", "KVM_E2E_TOOLS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KVM_E2E_TOOLS_DIR", str(tmp_path / "no-tools-built"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    out = tmp_path / "BENCHMARKS.md"
    assert main(["--sizes", "10", "--out", str(out)]) == 3
    error = capsys.readouterr().err
    assert error.startswith("make bench-engine: SKIPPED, nothing was measured; the real engine cannot run here:\n")
    assert "  - pulumi-resource-kubernetes: " in error
    assert not out.exists()
