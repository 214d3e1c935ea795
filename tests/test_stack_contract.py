"""Claims a user checks before `pulumi up`: the stack files pass the Pulumi CLI's config rules.

The CLI validates every stack's config against `Pulumi.yaml`'s `config:` block before the
program starts, so a stack that breaks these rules fails with no program output at all
(issue 10: "Stack 'dev' is missing configuration values 'sshPrivateKey' and 'vmNamespace'").
The rules are Pulumi's project file reference, "config options"
(https://www.pulumi.com/docs/iac/concepts/projects/project-file/#config-options), completed
from the CLI's source where that page is silent; `offline/project_config.py` lists them and
says where each comes from.

- Every shipped `Pulumi.<stack>.yaml` (tests/shipped.py names them; a git checkout's tracked
  stack files are exactly those) sits beside a `Pulumi.yaml` and passes those rules as committed:
  `pulumi up -s dev` needs nothing beyond the file, and `-s lab` needs only its SSH key (`pulumi
  config set --secret`), which keeps it passing. A user's own stack files are not checked here.
- Each rule fails when broken, on small stack files written here:
  - a key declared without `default` must be set in every stack file;
  - a value must match its declared `type` (string, integer, boolean, array, object);
  - a key declared `secret: true` must be `secure:` wherever it is set, and cannot have a
    plain default;
  - declared names and stack keys agree on namespacing: `vmNamespace` is
    `kvm-in-a-pod:vmNamespace`, in a declaration and in a stack file; a key of another
    namespace declares only a `value`; one key is not set under two spellings.
- With `PULUMI_CLI=/path/to/pulumi`, the real CLI gives the same verdict on each example
  stack (skipped otherwise: no Pulumi CLI can be installed on the build machines).
- Our own contract on top: every key `Pulumi.yaml` declares is one the program reads, and its
  declared default is the program's own default, so the CLI filling it in changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import KNOWN_KEYS, NAMESPACE, parse_stack_config
from offline.engine import PROJECT_ROOT, StackConfigError, record_stack
from offline.project_config import is_encrypted, load_project, project_file, read_project, stack_problems
from offline.stack_config import load_stack_config
from tests.shipped import shipped_stack_files

# Walking the repository skips what is not ours or not committed.
SKIPPED_DIRS = {"venv", "build", "node_modules", "__pycache__"}


def stack_files(root: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")) and name not in ("Pulumi.yaml", "Pulumi.yml"):
                yield Path(directory) / name


def stack_name(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]


def project_for(stack_path: Path, root: Path) -> Path | None:
    """The project directory whose stacks live in this file's directory (its own, or via stackConfigDir)."""
    for directory in (stack_path.parent, *stack_path.parent.parents):
        try:
            project = project_file(directory)
        except FileNotFoundError:
            if directory == root:
                return None
            continue
        config_dir = (yaml.safe_load(project.read_text(encoding="utf-8")) or {}).get("stackConfigDir")
        if (directory / (config_dir or ".")).resolve() == stack_path.parent.resolve():
            return directory
        if directory == root:
            return None
    return None


def contract_problems(root: Path) -> dict[str, list[str]]:
    """Every stack file under ``root`` -> what the CLI would refuse in it (empty when it passes)."""
    results: dict[str, list[str]] = {}
    for path in stack_files(root):
        relative = str(path.relative_to(root))
        project_dir = project_for(path, root)
        if project_dir is None:
            results[relative] = ["no Pulumi.yaml governs this stack file (pulumi would not find it)"]
            continue
        project = load_project(project_dir)
        config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
        results[relative] = [*project.problems, *stack_problems(project, stack_name(path), config)]
    return results


# --- the repository ---------------------------------------------------------------------------


def test_every_shipped_stack_file_passes_the_cli_config_rules() -> None:
    project = load_project(PROJECT_ROOT)
    results = {
        path.name: stack_problems(project, stack_name(path), (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {})
        for path in shipped_stack_files()
    }
    assert results == {path.name: [] for path in shipped_stack_files()}


def test_the_shipped_stacks_are_the_stack_files_git_tracks() -> None:
    """tests/shipped.py lists every committed stack file: a new one must be named there to be tested."""
    listed = subprocess.run(["git", "ls-files", "Pulumi.*.yaml"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=60)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout (git ls-files: {listed.stderr.strip() or listed.returncode}); tests/shipped.py is the list")
    assert sorted(name for name in listed.stdout.split() if name != "Pulumi.yaml") == sorted(p.name for p in shipped_stack_files())


def test_lab_passes_once_its_ssh_key_is_set_as_a_secret() -> None:
    project = load_project(PROJECT_ROOT)
    lab = yaml.safe_load((PROJECT_ROOT / "Pulumi.lab.yaml").read_text())["config"]
    lab[f"{NAMESPACE}:sshPrivateKey"] = {"secure": "v1:c2FsdA==:Y2lwaGVydGV4dA=="}  # what `config set --secret` writes
    assert stack_problems(project, "lab", lab) == []


def test_the_project_file_declares_nothing_the_cli_refuses() -> None:
    assert load_project(PROJECT_ROOT).problems == ()


def test_declared_keys_are_keys_the_program_reads() -> None:
    project = load_project(PROJECT_ROOT)
    assert project.declarations, "Pulumi.yaml declares no key: drop this test or the config block"
    for declaration in project.declarations:
        assert declaration.key.startswith(f"{NAMESPACE}:"), declaration.name
        assert declaration.key.removeprefix(f"{NAMESPACE}:") in KNOWN_KEYS, declaration.name


def test_declared_defaults_are_the_programs_own_defaults() -> None:
    """The CLI passes a declared default to the program as text; the program reads it as JSON."""
    minimal: dict[str, Any] = {"macvtap": {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0"}]}}
    for declaration in load_project(PROJECT_ROOT).declarations:
        assert declaration.default is not None, f"{declaration.name} has no default, so the CLI requires it on every stack"
        text = json.dumps(declaration.default) if isinstance(declaration.default, bool | list | dict) else str(declaration.default)
        try:
            received = json.loads(text)
        except json.JSONDecodeError:
            received = text
        key = declaration.key.removeprefix(f"{NAMESPACE}:")
        assert parse_stack_config({**minimal, key: received}) == parse_stack_config(minimal), declaration.name


# --- each rule fails when broken ------------------------------------------------------------------

PROJECT = """
name: demo
runtime: python
config:
  region:
    type: string
  replicas:
    type: integer
    default: 1
  debug:
    type: boolean
    default: false
  zones:
    type: array
    items:
      type: string
    default: [a]
  token:
    type: string
    secret: true
    default: unused
  kubernetes:context:
    value: kind
"""


def write_project(tmp_path: Path, stacks: dict[str, str], project: str = PROJECT) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(textwrap.dedent(project))
    for stack, text in stacks.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(textwrap.dedent(text))
    return tmp_path


GOOD_STACK = """
config:
  demo:region: eu
  demo:token:
    secure: v1:abc
"""


def test_a_stack_that_follows_every_rule_passes(tmp_path: Path) -> None:
    assert contract_problems(write_project(tmp_path, {"ok": GOOD_STACK})) == {"Pulumi.ok.yaml": []}


def test_a_key_declared_without_default_must_be_set_in_each_stack(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"ok": GOOD_STACK, "bare": "config:\n  demo:token:\n    secure: v1:abc\n"})
    assert contract_problems(root)["Pulumi.bare.yaml"] == ["Stack 'bare' is missing configuration value 'region'"]
    assert contract_problems(root)["Pulumi.ok.yaml"] == []


def test_missing_keys_are_listed_together_as_the_cli_lists_them() -> None:
    project = read_project({"name": "p", "config": {"a": {"type": "string"}, "c": {"type": "string"}, "b": {"type": "string"}}})
    assert stack_problems(project, "dev", {}) == ["Stack 'dev' is missing configuration values 'a', 'b' and 'c'"]


WRONG_TYPES: list[tuple[str, Any, str]] = [
    ("replicas", "three", "integer"),
    ("replicas", "1.5", "integer"),
    ("replicas", [1], "integer"),
    ("debug", "yes please", "boolean"),
    ("region", {"name": "eu"}, "string"),
    ("zones", "a", "array<string>"),
    ("zones", [{"name": "a"}], "array<string>"),
]
RIGHT_TYPES: list[tuple[str, Any]] = [
    ("replicas", 3),  # a scalar reaches the check as text, and "3" is an integer
    ("replicas", "3"),
    ("debug", True),
    ("debug", "false"),
    ("region", 5),  # ...so any scalar is a string
    ("zones", ["a", "b"]),
]


@pytest.mark.parametrize(("key", "value", "expected_type"), WRONG_TYPES)
def test_a_value_must_match_its_declared_type(tmp_path: Path, key: str, value: Any, expected_type: str) -> None:
    stack = yaml.safe_load(GOOD_STACK)
    stack["config"][f"demo:{key}"] = value
    root = write_project(tmp_path, {"typed": yaml.safe_dump(stack)})
    assert contract_problems(root)["Pulumi.typed.yaml"] == [
        f"Stack 'typed' with configuration key '{key}' must be of type '{expected_type}'"
    ]


@pytest.mark.parametrize(("key", "value"), RIGHT_TYPES)
def test_values_the_cli_accepts_for_their_type_pass(tmp_path: Path, key: str, value: Any) -> None:
    stack = yaml.safe_load(GOOD_STACK)
    stack["config"][f"demo:{key}"] = value
    assert contract_problems(write_project(tmp_path, {"typed": yaml.safe_dump(stack)}))["Pulumi.typed.yaml"] == []


def test_object_type_takes_a_map_only() -> None:
    project = read_project({"name": "p", "config": {"settings": {"type": "object", "default": {}}}})
    assert stack_problems(project, "s", {"p:settings": {"a": 1}}) == []
    assert stack_problems(project, "s", {"p:settings": "a"}) == ["Stack 's' with configuration key 'settings' must be of type 'object'"]


def test_a_secret_key_must_be_encrypted_wherever_a_stack_sets_it(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"plain": "config:\n  demo:region: eu\n  demo:token: hunter2\n"})
    assert contract_problems(root)["Pulumi.plain.yaml"] == ["Stack 'plain' with configuration key 'token' must be encrypted as it's secret"]


def test_a_secret_key_with_a_plain_default_fails_on_stacks_that_do_not_set_it(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"unset": "config:\n  demo:region: eu\n"})
    assert contract_problems(root)["Pulumi.unset.yaml"] == ["Stack 'unset' with configuration key 'token' must be encrypted as it's secret"]


def test_a_declared_name_without_namespace_governs_the_projects_key(tmp_path: Path) -> None:
    # `region` is demo:region: setting it under another namespace does not satisfy it.
    stack = "config:\n  other:region: eu\n  demo:token:\n    secure: v1:abc\n"
    assert contract_problems(write_project(tmp_path, {"elsewhere": stack}))["Pulumi.elsewhere.yaml"] == [
        "Stack 'elsewhere' is missing configuration value 'region'"
    ]


def test_a_declaration_with_the_project_namespace_is_the_same_key() -> None:
    project = read_project({"name": "demo", "config": {"demo:region": {"type": "string"}}})
    assert stack_problems(project, "s", {"demo:region": "eu"}) == []
    assert stack_problems(project, "s", {}) == ["Stack 's' is missing configuration value 'demo:region'"]


def test_the_old_config_infix_names_the_same_key() -> None:
    project = read_project({"name": "demo", "config": {"region": {"type": "string"}}})
    assert stack_problems(project, "s", {"demo:config:region": "eu"}) == []


def test_a_stack_key_without_namespace_is_the_projects_key(tmp_path: Path) -> None:
    # The CLI rewrites `region:` in a stack file to `demo:region:` (verified with CLI v3.274).
    stack = "config:\n  region: eu\n  demo:token:\n    secure: v1:abc\n"
    assert contract_problems(write_project(tmp_path, {"bare": stack}))["Pulumi.bare.yaml"] == []


def test_one_key_set_under_two_spellings_is_refused(tmp_path: Path) -> None:
    stack = GOOD_STACK + "  region: us\n"
    assert contract_problems(write_project(tmp_path, {"twice": stack}))["Pulumi.twice.yaml"] == [
        "sets demo:region more than once (demo:region and region); the CLI keeps only one of them"
    ]


def test_a_key_the_cli_cannot_parse_is_refused() -> None:
    project = read_project({"name": "demo"})
    assert stack_problems(project, "s", {"a:b:c": 1}) == [
        "could not parse a:b:c as a configuration key (configuration keys should be of the form `<namespace>:<name>`)"
    ]


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        ({"type": "string", "value": "x"}, "Configuration key 'aws:region' is not namespaced by the project and should not define a type"),
        ({"default": "x"}, "Configuration key 'aws:region' is not namespaced by the project and should not define a default value"),
        ({"description": "no value"}, "Configuration key 'aws:region' is namespaced and must provide an attribute 'value'"),
    ],
)
def test_a_key_of_another_namespace_may_only_declare_a_value(declaration: dict[str, Any], problem: str) -> None:
    # The CLI stops at its first problem; that is the one it would print.
    assert read_project({"name": "demo", "config": {"aws:region": declaration}}).problems[0] == problem


def test_short_hand_declarations_are_a_default_for_ours_and_a_value_for_others() -> None:
    project = read_project({"name": "demo", "config": {"size": "t3.micro", "aws:region": "us-west-2"}})
    assert project.problems == ()
    assert [(d.key, d.default, d.value) for d in project.declarations] == [
        ("demo:size", "t3.micro", None),
        ("aws:region", None, "us-west-2"),
    ]
    assert stack_problems(project, "s", {}) == []


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        ({"type": "array"}, "declares an array but does not specify the underlying type via the 'items' attribute"),
        ({"type": "integer", "default": "many"}, "is not of the expected type 'integer'"),
        ({"type": "number"}, "is not one of string, integer, boolean, array, object"),
        ({"type": "string", "default": "a", "value": "b"}, "cannot have both a 'default' and 'value' attribute"),
        ({"type": "string", "required": True}, "unknown attribute 'required'"),
    ],
)
def test_a_malformed_declaration_is_refused(declaration: dict[str, Any], problem: str) -> None:
    problems = read_project({"name": "demo", "config": {"size": declaration}}).problems
    assert len(problems) == 1 and problem in problems[0]


def test_a_stack_file_no_project_governs_is_reported(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"ok": GOOD_STACK})
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "Pulumi.stray.yaml").write_text(GOOD_STACK)
    assert contract_problems(root)["elsewhere/Pulumi.stray.yaml"] == ["no Pulumi.yaml governs this stack file (pulumi would not find it)"]


def test_stack_files_under_stack_config_dir_are_checked_against_their_project(tmp_path: Path) -> None:
    root = write_project(tmp_path, {}, PROJECT + "stackConfigDir: stacks\n")
    (root / "stacks").mkdir()
    (root / "stacks" / "Pulumi.bare.yaml").write_text("config: {}\n")
    assert contract_problems(root) == {
        "stacks/Pulumi.bare.yaml": [
            "Stack 'bare' is missing configuration value 'region'",
            "Stack 'bare' with configuration key 'token' must be encrypted as it's secret",
        ]
    }


def test_a_project_in_a_subdirectory_governs_its_own_stacks(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"ok": GOOD_STACK})
    (root / "vms").mkdir()
    write_project(root / "vms", {"dev": "config: {}\n"}, "name: vms\nruntime: python\n")
    assert contract_problems(root) == {"Pulumi.ok.yaml": [], "vms/Pulumi.dev.yaml": []}


# --- the offline engine applies the same rules ------------------------------------------------


def test_the_engine_passes_declared_defaults_as_the_cli_does() -> None:
    config, _ = load_stack_config("dev")
    assert config[f"{NAMESPACE}:vmNamespace"] == "default"  # not in Pulumi.dev.yaml: from Pulumi.yaml


def test_the_engine_refuses_what_the_cli_refuses() -> None:
    with pytest.raises(StackConfigError) as refused:
        record_stack("dev", config_overrides={f"{NAMESPACE}:vmNamespace": {"name": "vms"}})
    assert str(refused.value) == "validating stack config: Stack 'dev' with configuration key 'vmNamespace' must be of type 'string'"


def test_the_engine_names_an_encrypted_value_it_was_not_given() -> None:
    with pytest.raises(StackConfigError) as refused:
        record_stack("dev", config_overrides={"kubernetes:kubeconfig": {"secure": "v1:abc"}})
    assert str(refused.value).startswith("kubernetes:kubeconfig is encrypted in Pulumi.dev.yaml and cannot be decrypted")


# --- the same verdicts from the real CLI (opt-in) -------------------------------------------------

PULUMI_CLI = os.environ.get("PULUMI_CLI", "")
SECURE = {"secure": "v1:abc"}  # stands for `pulumi config set --secret`, which the CLI test runs for real
CLI_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("follows every rule", {"demo:region": "eu", "demo:token": SECURE}),
    ("misses a required key", {"demo:token": SECURE}),
    ("sets the key under another namespace", {"other:region": "eu", "demo:token": SECURE}),
    ("sets the key without namespace", {"region": "eu", "demo:token": SECURE}),
    ("has a key the CLI cannot parse", {"demo:region": "eu", "demo:token": SECURE, "a:b:c": "x"}),
    ("sets the secret in plain text", {"demo:region": "eu", "demo:token": "hunter2"}),
    ("leaves the secret to its plain default", {"demo:region": "eu"}),
    *[(f"sets {key} to {value!r}", {"demo:region": "eu", "demo:token": SECURE, f"demo:{key}": value}) for key, value, _ in WRONG_TYPES],
    *[(f"sets {key} to {value!r}", {"demo:region": "eu", "demo:token": SECURE, f"demo:{key}": value}) for key, value in RIGHT_TYPES],
]


def cli_verdict(cli: Path, workdir: Path, project_text: str, stack: str, config: dict[str, Any]) -> str | None:
    """The CLI's config error for ``stack`` of the project ``project_text``; None if it starts the program.

    Encrypted values (``SECURE``) are set with ``pulumi config set --secret``.
    """
    env = {
        **os.environ,
        "PATH": f"{cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # its language host sits beside it
        "PULUMI_HOME": str(workdir / "home"),
        "PULUMI_BACKEND_URL": (workdir / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "contract-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (workdir / "state").mkdir(parents=True)
    project = workdir / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(textwrap.dedent(project_text))

    def pulumi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(cli), *args, "--non-interactive"], cwd=project, env=env, capture_output=True, text=True, timeout=300)

    assert pulumi("stack", "init", stack).returncode == 0
    for key in (key for key, value in config.items() if value == SECURE):
        assert pulumi("config", "set", "--secret", key, "a-secret", "-s", stack).returncode == 0
    # Then the plain values, by hand: `config set` refuses to touch a file it cannot parse.
    stack_path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(stack_path.read_text()) or {}  # the encryption salt and the secrets
    document["config"] = {**(document.get("config") or {}), **{key: value for key, value in config.items() if value != SECURE}}
    stack_path.write_text(yaml.safe_dump(document))
    output = pulumi("preview", "-s", stack)
    # "error: validating stack config: Stack 's' ..." or "error: getting stack configuration: ...: could not parse ..."
    found = re.search(r"error: [^\n]*?((?:Stack '|could not parse )[^\n]*)", output.stderr + "\n" + output.stdout)
    return found[1].strip() if found else None


@pytest.mark.skipif(not PULUMI_CLI, reason="set PULUMI_CLI=/path/to/pulumi to compare these rules with the real Pulumi CLI")
@pytest.mark.parametrize(("case", "config"), CLI_EXAMPLES, ids=[case for case, _ in CLI_EXAMPLES])
def test_the_real_cli_gives_the_same_verdict(tmp_path: Path, case: str, config: dict[str, Any]) -> None:
    ours = stack_problems(read_project(yaml.safe_load(PROJECT)), "s", config)
    assert cli_verdict(Path(PULUMI_CLI), tmp_path, PROJECT, "s", config) == (ours[0] if ours else None)  # the CLI stops at its first


@pytest.mark.skipif(not PULUMI_CLI, reason="set PULUMI_CLI=/path/to/pulumi to check the stacks with the real Pulumi CLI")
@pytest.mark.parametrize("path", shipped_stack_files(), ids=lambda path: path.name)
def test_the_real_cli_accepts_the_repositorys_stacks(tmp_path: Path, path: Path) -> None:
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    if stack_name(path) == "lab":
        config[f"{NAMESPACE}:sshPrivateKey"] = SECURE  # README: set once with `pulumi config set --secret`
    config = {key: SECURE if is_encrypted(value) else value for key, value in config.items()}
    assert cli_verdict(Path(PULUMI_CLI), tmp_path, (PROJECT_ROOT / "Pulumi.yaml").read_text(), stack_name(path), config) is None
