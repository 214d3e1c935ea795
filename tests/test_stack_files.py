"""Claims a user checks about how a stack file is read: each mistake is one line, and keys mean what they mean to the CLI.

- Each file mistake gives exit status 2 and ONE line on stderr naming the file, the line and the
  column, and what to fix; no traceback, nothing on stdout, no plan directory:
  a YAML syntax error, a tab in the indentation, a ``config:`` that is text or a list, a file
  that is a list, a key written outside ``config:`` (the CLI would silently ignore it), a key set
  twice in one mapping, a file that is not UTF-8, and a file that cannot be read.
- ``Pulumi.yaml`` mistakes are reported the same way, naming ``Pulumi.yaml``.
- Keys resolve as the CLI resolves them (``LoadProjectStackBytes``, ``config.ParseKey``): a bare
  ``vms:`` is ``kvm-in-a-pod:vms``, and so is the old ``kvm-in-a-pod:config:vms``; a stack written
  with bare keys hands the program exactly what the namespaced file hands it, and the plan deploys
  its VMs.
- A key the CLI takes as the project's but the program does not know (a bare ``vmz:``) is refused
  by the program, with its full key path, and so by the plan.
- ``--set`` with a full key replaces the file's key whatever its spelling; a key with no value is
  handed over as "", as the CLI does.
- With ``PULUMI_CLI=/path/to/pulumi``: the CLI resolves each example file to the same keys and
  values as ``offline.engine.stack_config``, and refuses the same file mistakes (all but a key
  outside ``config:``, which the CLI ignores and the plan refuses). Skipped without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError, parse_stack_config
from offline.stack_config import PROJECT_ROOT, StackFileUnusableError, load_stack_config, stack_config
from offline.stack_file import StackFileError, read_stack_file
from tests.plan_runs import plan_in_project

PULUMI_CLI = os.environ.get("PULUMI_CLI", "")
NS = "kvm-in-a-pod:"
DEV = (PROJECT_ROOT / "Pulumi.dev.yaml").read_text()

# The project copied without what is not committed: the plan runs from it as a user runs it.
COPY_IGNORE = shutil.ignore_patterns("venv", "build", ".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "Pulumi.*.yaml")


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("project") / "kvm-in-a-pod"
    shutil.copytree(PROJECT_ROOT, copy, ignore=COPY_IGNORE)
    return copy


def plan_in(project: Path, stack_text: str | bytes, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``python -m offline.plan mistake --offline`` in the project copy, with this stack file."""
    path = project / "Pulumi.mistake.yaml"
    if path.is_dir():
        path.rmdir()
    path.write_bytes(stack_text if isinstance(stack_text, bytes) else stack_text.encode())
    return plan_in_project(project, "mistake", tmp_path / "out")


FILE_MISTAKES = [
    (
        "a YAML syntax error",
        "config:\n  kvm-in-a-pod:vms: [a\n",
        "error: Pulumi.mistake.yaml:3:1: not valid YAML: did not find expected ',' or ']' (while parsing a flow sequence);"
        " check the indentation, colons and quotes on this line and the one before",
    ),
    (
        "a tab in the indentation",
        "config:\n\tkvm-in-a-pod:vms: []\n",
        "error: Pulumi.mistake.yaml:2:1: a tab in the indentation; YAML indents with spaces only, replace the tab with spaces",
    ),
    (
        "a config: that is text",
        "config: kvm-in-a-pod:vms\n",
        "error: Pulumi.mistake.yaml:1:9: config: must be a mapping of keys to values (one indented 'kvm-in-a-pod:key: value'"
        " per line); found the text 'kvm-in-a-pod:vms'",
    ),
    (
        "a config: that is a list",
        "config:\n  - kvm-in-a-pod:vms: []\n",
        "error: Pulumi.mistake.yaml:2:3: config: must be a mapping of keys to values (one indented 'kvm-in-a-pod:key: value'"
        " per line); found a list",
    ),
    (
        "a file that is a list",
        "- config: {}\n",
        "error: Pulumi.mistake.yaml:1:1: a stack file is a mapping with a config: key (config: then one indented"
        " 'kvm-in-a-pod:key: value' per line); found a list",
    ),
    (
        "a key outside config:",
        "kvm-in-a-pod:vms: []\nconfig: {}\n",
        "error: Pulumi.mistake.yaml:1:1: 'kvm-in-a-pod:vms' is outside config:, where the Pulumi CLI ignores it (it reads only"
        " secretsprovider, encryptedkey, encryptionsalt, config, environment); indent it under config:",
    ),
    (
        "a key set twice",
        "config:\n  kvm-in-a-pod:role: all\n  kvm-in-a-pod:role: vms\n",
        "error: Pulumi.mistake.yaml:3:3: 'kvm-in-a-pod:role' is set twice in one mapping (first at line 2); keep one of them",
    ),
    (
        "a file that is not UTF-8",
        b"config:\n  kvm-in-a-pod:vmNamespace: caf\xe9\n",
        "error: Pulumi.mistake.yaml:2:32: byte 0xe9 is not UTF-8 text; save the file as UTF-8",
    ),
]


@pytest.mark.parametrize(("case", "text", "line"), FILE_MISTAKES, ids=[case for case, _, _ in FILE_MISTAKES])
def test_a_file_mistake_is_one_line_naming_the_file_line_and_column(
    project_copy: Path, tmp_path: Path, case: str, text: str | bytes, line: str
) -> None:
    result = plan_in(project_copy, text, tmp_path)
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", "")
    assert not (tmp_path / "out").exists()


def test_a_stack_file_that_cannot_be_read_is_one_line(project_copy: Path, tmp_path: Path) -> None:
    path = project_copy / "Pulumi.mistake.yaml"
    path.unlink(missing_ok=True)
    path.mkdir()  # root reads any file whatever its mode; a directory it cannot read as one
    result = plan_in_project(project_copy, "mistake", tmp_path / "out")
    path.rmdir()
    assert (result.returncode, result.stderr) == (
        2,
        "error: Pulumi.mistake.yaml: cannot be read (Is a directory); check that it is a readable file\n",
    )


def test_a_project_file_mistake_names_pulumi_yaml(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: kvm-in-a-pod\nruntime: python\nconfig:\n\tvmNamespace: x\n")
    (tmp_path / "Pulumi.s.yaml").write_text("config: {}\n")
    with pytest.raises(StackFileUnusableError) as refused:
        stack_config("s", tmp_path)
    assert str(refused.value) == "Pulumi.yaml:4:1: a tab in the indentation; YAML indents with spaces only, replace the tab with spaces"


def test_a_byte_order_mark_is_ignored_as_the_cli_strips_it(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfconfig:\n  kvm-in-a-pod:role: all\n")
    assert read_stack_file(path) == {"kvm-in-a-pod:role": "all"}


def test_an_empty_file_is_a_stack_without_config(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.empty.yaml"
    path.write_text("# nothing yet\n")
    assert read_stack_file(path) == {}


def test_the_reader_raises_stack_file_error_not_a_parser_error(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  a: [\n")
    with pytest.raises(StackFileError, match=r"^Pulumi\.bad\.yaml:3:1: not valid YAML"):
        read_stack_file(path)


# --- keys as the CLI resolves them ------------------------------------------------------------


def project_with(tmp_path: Path, stacks: dict[str, str]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for stack, text in stacks.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(text)
    return tmp_path


def bare(text: str) -> str:
    """The dev stack file with every key written without the project namespace."""
    return text.replace(f"  {NS}", "  ")


def old_infix(text: str) -> str:
    """The dev stack file with every key in the old ``namespace:config:name`` form."""
    return text.replace(f"  {NS}", f"  {NS}config:")


@pytest.mark.parametrize("spelling", [bare, old_infix], ids=["bare keys", "namespace:config:name"])
def test_other_spellings_hand_the_program_what_the_namespaced_file_hands_it(tmp_path: Path, spelling: Any) -> None:
    project = project_with(tmp_path, {"dev": DEV, "respelled": spelling(DEV)})
    assert spelling(DEV) != DEV
    assert load_stack_config("respelled", project) == load_stack_config("dev", project)


def test_a_stack_with_bare_keys_deploys_its_vms(project_copy: Path, tmp_path: Path) -> None:
    result = plan_in(project_copy, bare(DEV), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  VMs: default/vm1, default/vm2\n" in result.stdout


def as_the_program_reads(text: str) -> Any:
    """JSON when it parses, else the text (components.config.read_raw_config)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_a_bare_key_the_program_does_not_know_is_refused_with_its_full_key(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"typo": bare(DEV) + "  vmz: []\n"})
    config, _ = load_stack_config("typo", project)
    values = {key.removeprefix(NS): as_the_program_reads(value) for key, value in config.items() if key.startswith(NS)}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(values)
    assert [path for path, _ in refused.value.problems] == [f"{NS}vmz"]


def test_the_plan_refuses_a_bare_key_the_program_does_not_know(project_copy: Path, tmp_path: Path) -> None:
    result = plan_in(project_copy, bare(DEV) + "  vmz: []\n", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: invalid stack configuration:\n  {NS}vmz: is not a known key")


def test_a_full_key_override_replaces_a_bare_key(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"bare": bare(DEV)})
    config = stack_config("bare", project, overrides={f"{NS}vms": []})
    assert config[f"{NS}vms"] == []
    assert "vms" not in config


def test_a_key_without_a_value_is_handed_over_as_an_empty_string(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"empty": DEV + "  kubernetes:context:\n"})
    config, _ = load_stack_config("empty", project)
    assert config["kubernetes:context"] == ""


# --- the same reading from the real CLI (opt-in) ------------------------------------------------


def cli_config(cli: Path, workdir: Path, stack_text: str) -> tuple[int, dict[str, Any], str]:
    """``pulumi config --json`` of a stack whose file is ``stack_text``, in a copy of Pulumi.yaml's project."""
    env = {
        **os.environ,
        "PULUMI_HOME": str(workdir / "home"),
        "PULUMI_BACKEND_URL": (workdir / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "stack-files-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    project = workdir / "project"
    project.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", project / "Pulumi.yaml")

    def pulumi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(cli), *args, "--non-interactive"], cwd=project, env=env, capture_output=True, text=True, timeout=300)

    initialised = pulumi("stack", "init", "s")
    assert initialised.returncode == 0, initialised.stderr
    salt = (project / "Pulumi.s.yaml").read_text()  # `encryptionsalt: ...`, kept as the first line
    (project / "Pulumi.s.yaml").write_text(salt + stack_text)
    shown = pulumi("config", "--json", "--show-secrets", "-s", "s")
    values: dict[str, Any] = {}
    if shown.returncode == 0:
        for key, entry in json.loads(shown.stdout).items():
            values[key] = entry.get("objectValue", entry["value"])
    return shown.returncode, values, shown.stderr


def ours(tmp_path: Path, stack_text: str) -> dict[str, Any]:
    """What offline.engine.stack_config makes of the same file, as the CLI shows values (scalars as text)."""
    project = project_with(tmp_path / "ours", {"s": stack_text})
    config, _ = load_stack_config("s", project)
    result: dict[str, Any] = {}
    for key, value in config.items():
        parsed = as_the_program_reads(value)
        result[key] = parsed if isinstance(parsed, list | dict) else value
    return result


CLI_SPELLINGS = [
    ("namespaced keys", DEV),
    ("bare keys", bare(DEV)),
    ("namespace:config:name keys", old_infix(DEV)),
    ("a bare key the program does not know", bare(DEV) + "  vmz: [1]\n"),
    ("a key of another namespace", DEV + "  kubernetes:context: kind-kvm\n"),
    ("a key without a value", DEV + "  kubernetes:context:\n"),
]


@pytest.fixture
def cli() -> Iterator[Path]:
    if not PULUMI_CLI:
        pytest.skip("set PULUMI_CLI=/path/to/pulumi to compare with the real Pulumi CLI")
    yield Path(PULUMI_CLI)


@pytest.mark.parametrize(("case", "text"), CLI_SPELLINGS, ids=[case for case, _ in CLI_SPELLINGS])
def test_the_cli_resolves_each_spelling_to_the_same_keys_and_values(cli: Path, tmp_path: Path, case: str, text: str) -> None:
    code, values, stderr = cli_config(cli, tmp_path, text)
    assert code == 0, stderr
    assert values == ours(tmp_path, text)


@pytest.mark.parametrize(
    ("case", "text"),
    [(case, text) for case, text, _ in FILE_MISTAKES if case not in ("a key outside config:", "a file that is not UTF-8")],
    ids=[case for case, _, _ in FILE_MISTAKES if case not in ("a key outside config:", "a file that is not UTF-8")],
)
def test_the_cli_refuses_the_same_file_mistakes(cli: Path, tmp_path: Path, case: str, text: str) -> None:
    code, _, stderr = cli_config(cli, tmp_path, text)
    assert code != 0
    assert re.search(r"error: .*(yaml|YAML|unmarshal)", stderr), stderr


def test_the_cli_ignores_a_key_outside_config_which_the_plan_refuses(cli: Path, tmp_path: Path) -> None:
    code, values, stderr = cli_config(cli, tmp_path, "kvm-in-a-pod:role: vms\nconfig:\n  kvm-in-a-pod:role: all\n")
    assert code == 0, stderr
    assert values[f"{NS}role"] == "all"


def test_the_respelled_examples_respell_every_key_of_dev() -> None:
    # The examples rewrite the dev file's text; every key of it must be one they rewrite.
    assert sorted(yaml.safe_load(DEV)["config"]) == sorted(f"{NS}{key}" for key in yaml.safe_load(bare(DEV))["config"])
