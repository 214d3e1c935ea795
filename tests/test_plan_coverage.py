"""Claims a user checks about what the offline plan says it did NOT check, and which policy config it used.

- When upstream's files cannot be had (offline, nothing cached), the summary's last lines say how
  many objects went unvalidated, name each missing upstream file and why, and give the command
  that fixes it; with every object validated, there are no such lines.
- ``--strict`` (``make plan STRICT=1``) exits 1 when anything went unvalidated, one stderr line per
  object, and 0 when everything validated.
- A stack without ``policies/config/<stack>.json`` runs the pack with its defaults and the summary
  says so; a malformed policy config (not JSON, not an object, an unknown policy) is one line,
  exit 2, naming the file (and the line and column of a JSON error).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from offline.engine import PROJECT_ROOT
from tests import upstream
from tests.conftest import stack_value
from tests.plan_runs import Run, plan_in_project, run_plan
from tests.test_schema_source import OPERATOR_STAND_IN


def offline_plan(out: Path, *args: str) -> Run:
    return run_plan(out, "dev", "--offline", *args)


def tail(run: Run) -> list[str]:
    """The summary's lines from NOT VALIDATED on (its last lines)."""
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("NOT VALIDATED")), len(lines))
    return lines[start:]


def test_without_upstream_files_the_last_lines_say_what_was_not_validated_and_how_to_fix_it(tmp_path: Path) -> None:
    run = offline_plan(tmp_path / "out")
    assert run.code == 0, run.stderr
    assert tail(run) == [
        "NOT VALIDATED: 6 of 10 objects (schema-report.txt lists each):",
        "  KubeVirt v1.9.0 swagger: offline, no cached KubeVirt v1.9.0 swagger",
        "  Multus v4.3.0 thick-plugin manifest: offline, no cached Multus v4.3.0 thick-plugin manifest",
        "  KubeVirt v1.9.0 operator manifest: offline, no cached KubeVirt v1.9.0 operator manifest",
        "  to validate them: run `make plan` without OFFLINE=1 where https://raw.githubusercontent.com and https://github.com"
        " can be reached (the files are then cached); `make plan STRICT=1` fails while anything is not validated",
    ]
    assert run.stdout.splitlines()[-len(tail(run)) - 1].startswith("  took ")


def test_a_failed_download_names_the_mirror_option(tmp_path: Path) -> None:
    # Port 9 (discard) on 127.0.0.1: nothing listens, so the download fails at once.
    run = run_plan(tmp_path / "out", "dev", "--mirror", "http://127.0.0.1:9")
    assert run.code == 0, run.stderr
    assert tail(run)[-1].endswith(
        "(the files are then cached), or `make plan MIRROR=URL`; `make plan STRICT=1` fails while anything is not validated"
    )


def fully_local(tmp_path: Path) -> list[str]:
    """``--set``s that make every manifest local (our operator stand-in, upstream's Multus manifest) and ``--schemas``."""
    operator = tmp_path / "kubevirt-operator.yaml"
    operator.write_text(OPERATOR_STAND_IN)
    kubevirt = {**stack_value("dev", "kubevirt"), "operatorManifest": str(operator)}
    multus = {**stack_value("dev", "multus"), "manifest": str(upstream.required(*upstream.MULTUS).path)}
    return [
        "--schemas",
        upstream.schemas_or_skip(),
        "--set",
        f"kvm-in-a-pod:kubevirt={json.dumps(kubevirt)}",
        "--set",
        f"kvm-in-a-pod:multus={json.dumps(multus)}",
    ]


def test_with_everything_validated_there_is_no_not_validated_line(tmp_path: Path) -> None:
    run = offline_plan(tmp_path / "out", *fully_local(tmp_path))
    assert run.code == 0, run.stderr
    assert " 0 not validated" in run.stdout
    assert tail(run) == []


def test_strict_fails_naming_each_object_not_validated(tmp_path: Path) -> None:
    run = offline_plan(tmp_path / "out", "--strict")
    assert run.code == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 6
    assert (
        "not validated (--strict): manifests/009-virtualmachineinstance-default-vm1.yaml (VirtualMachineInstance default/vm1):"
        " offline, no cached schema for KubeVirt v1.9.0 (use --schemas DIR)"
    ) in lines


def test_strict_passes_when_everything_validated(tmp_path: Path) -> None:
    run = offline_plan(tmp_path / "out", "--strict", *fully_local(tmp_path))
    assert (run.code, run.stderr) == (0, "")


# --- policy config --------------------------------------------------------------------------


def test_an_explicit_policy_config_that_is_not_json_is_one_line_with_its_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text('{\n  "macvtap-capacity": {"nodeCount": 2,}\n}\n')
    run = offline_plan(tmp_path / "out", "--policy-config", str(config))
    assert (run.code, run.stdout) == (2, "")
    assert run.stderr == (
        f"error: policy config {config}:2:39: not valid JSON: Expecting property name enclosed in double quotes;"
        ' it holds one JSON object, e.g. {"macvtap-capacity": {"nodeCount": 2}}\n'
    )


def test_a_policy_config_that_is_not_an_object_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text('["macvtap-capacity"]\n')
    run = offline_plan(tmp_path / "out", "--policy-config", str(config))
    assert run.code == 2
    assert run.stderr == (
        f'error: policy config {config}: expected a JSON object of policy names, e.g. {{"macvtap-capacity": "advisory"}}; found list\n'
    )


def test_an_explicit_policy_config_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    run = offline_plan(tmp_path / "out", "--policy-config", str(tmp_path / "nope.json"))
    assert (run.code, run.stderr) == (2, f"error: policy config {tmp_path / 'nope.json'}: no such file\n")


@pytest.fixture(scope="module")
def project_with_team_c(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with a user's own stack team-c (the dev stack's config) and no policy config for it."""
    copy = tmp_path_factory.mktemp("project") / "kvm-in-a-pod"
    shutil.copytree(PROJECT_ROOT, copy, ignore=shutil.ignore_patterns("venv", "build", ".git", "__pycache__", "*_cache"))
    shutil.copy(PROJECT_ROOT / "Pulumi.dev.yaml", copy / "Pulumi.team-c.yaml")
    (copy / "policies" / "config" / "team-c.json").unlink(missing_ok=True)
    return copy


def test_a_stack_without_a_policy_config_runs_the_pack_with_its_defaults_and_says_so(project_with_team_c: Path, tmp_path: Path) -> None:
    result = plan_in_project(project_with_team_c, "team-c", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "  policies: 0 mandatory, 0 advisory violations (the pack's defaults: no policies/config/team-c.json)\n" in result.stdout
    assert "(config: the pack's defaults: no policies/config/team-c.json)" in (tmp_path / "out" / "policy-report.txt").read_text()
