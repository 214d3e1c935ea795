"""The component package under the real engine: the README's consumer programs, each in a project of its own.

Render mode (``kubernetes:renderYamlToDirectory``): no cluster, so no root; the rendered files are
the objects exactly as the kubernetes provider would send them. A copy of the project holds a
``platform`` stack (role platform, daemonset mode, networks lan and storage) and a ``vms`` stack
``team`` with one VM. Each consumer is the README's block for its language ("Use from your own
program"), in a temporary project whose stack is also called ``team``, so that MACs derived from
the stack name agree. Claims, one test each:

1. ``pulumi package get-schema`` of the plugin directory prints the schema the unit tests check
   (the in-process provider's);
2. the YAML, TypeScript, Go and Python consumers (``pulumi package add`` of the plugin directory;
   for Python, ``pip install`` of the checkout) each ``up`` and render exactly the files the
   Python ``vms`` stack renders for the same VM: the same kinds, names, namespaces, contents;
3. a second ``preview`` of each consumer shows no changes;
4. the YAML and the TypeScript consumer's ``preview`` fails on an unknown network and on a
   multicast MAC, naming the argument's path and the rule, and creates or replaces nothing;
5. each consumer's ``macs`` output is what the ``vms`` stack's ``vms`` output says of the VM;
6. ``pulumi package add`` records the package in the YAML consumer's ``Pulumi.yaml``, as the path
   of the plugin directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.package import component_provider
from tests import upstream
from tests.e2e.kubevirt_fixture import operator_manifest
from tests.e2e.prerequisites import find_go
from tests.e2e.project import Project, PulumiResult
from tests.e2e.tools import REPO_ROOT, MissingToolsError, Toolchain, find_toolchain

NS = "kvm-in-a-pod:"
STACK = "team"
PLATFORM = "platform"
CONSUMERS = ("yaml", "typescript", "go", "python")
NEEDED = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-nodejs",
    "pulumi-language-go",
    "pulumi-language-yaml",
    "pulumi-resource-kubernetes",
    "pulumi-resource-command",
)
# The README's consumers make this VM; the vms stack is configured with it.
NICS = [{"network": "lan", "mac": "02:00:00:00:0c:01"}, {"network": "storage", "mtu": 9000}]
VM = {
    "name": "web3",
    "memory": "2Gi",
    "cpuCores": 2,
    "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0bT8m2b5fLr7Z1e1Xv4mS2sQ9bZ8w3a6b5c4d3e2f team-c"],
    "macvtap": NICS,
}
NAMESPACE = "team-c"
# The TypeScript consumer's packages from the npm registry: @pulumi/pulumi 3.248.0 is the newest that declares Node 20.
PACKAGE_JSON = {
    "name": "team-c",
    "main": "index.ts",
    "dependencies": {"@pulumi/pulumi": "3.248.0"},
    "devDependencies": {"@types/node": "^20", "typescript": "5.9.3"},
}
TSCONFIG = {
    "compilerOptions": {"strict": True, "target": "es2020", "module": "commonjs", "moduleResolution": "node", "skipLibCheck": True},
    "files": ["index.ts"],
}
RUNTIMES = {
    "yaml": "runtime: yaml\n",
    "typescript": "runtime:\n  name: nodejs\n  options:\n    packagemanager: npm\n",
    "go": "runtime: go\n",
    "python": "runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: venv\n",
}
PROGRAM_FILES = {"yaml": "Pulumi.yaml", "typescript": "index.ts", "go": "main.go", "python": "__main__.py"}
# The Go consumer's SDK from the Go module proxy: the CLI's version.
GO_MOD = "module team-c-go\n\ngo 1.26\n\nrequire github.com/pulumi/pulumi/sdk/v3 v3.274.0\n"
README = REPO_ROOT / "README.md"


def readme_program(language: str) -> str:
    """The README's consumer program for ``language`` (the fenced block after its marker)."""
    match = re.search(rf"<!-- consumer program: {language} -->\n```{language}\n(.*?)\n```", README.read_text(), re.DOTALL)
    assert match, f"README.md has no consumer program for {language}"
    return match.group(1) + "\n"


@dataclass
class Consumer:
    language: str
    project: Project  # the consumer's directory as a Pulumi project (same PULUMI_HOME and backend)
    render: Path

    @property
    def program(self) -> Path:
        return self.project.root / PROGRAM_FILES[self.language]

    def pulumi(self, *args: str) -> PulumiResult:
        return self.project.pulumi(*args, stack=STACK, timeout=900)


@dataclass
class World:
    project: Project  # the copy of this project: the platform and the vms stack
    render: Path
    consumers: dict[str, Consumer]


@pytest.fixture(scope="module")
def consumer_tools() -> Toolchain:
    problems = []
    try:
        upstream.upstream_file(*upstream.MULTUS)
    except upstream.UpstreamUnavailableError as error:
        problems.append(f"upstream file: {error}")
    try:
        found = find_toolchain(NEEDED)
    except MissingToolsError as error:
        problems.append(str(error))
    if problems:
        pytest.exit("the component package's end-to-end tests cannot run:\n" + "\n".join(problems), returncode=3)
    return found


def write_project_file(directory: Path, language: str, program: str) -> None:
    """A consumer's Pulumi.yaml: the README's YAML program is one; the others get a name and a runtime."""
    if language == "yaml":
        (directory / "Pulumi.yaml").write_text(program)
        return
    (directory / "Pulumi.yaml").write_text(f"name: team-c-{language}\n{RUNTIMES[language]}")
    (directory / PROGRAM_FILES[language]).write_text(program)


def timed(step: str, result: PulumiResult) -> PulumiResult:
    """``result``, checked, with its time on stderr as the suite prints its steps."""
    sys.stderr.write(f"\n[e2e] component package, {step}: {result.seconds:.1f} s\n")
    return result.check()


def make_consumer(language: str, project: Project, workdir: Path, checkout: Path) -> Consumer:
    directory = workdir / f"{language}-consumer"
    directory.mkdir()
    write_project_file(directory, language, readme_program(language))
    consumer = Consumer(language, Project(directory, project.home, project.tools), workdir / "render" / language)
    consumer.project.pulumi("stack", "init", STACK).check()
    consumer.project.pulumi("config", "set", "kubernetes:renderYamlToDirectory", str(consumer.render), stack=STACK).check()
    if language == "typescript":
        (directory / "package.json").write_text(json.dumps(PACKAGE_JSON))
        (directory / "tsconfig.json").write_text(json.dumps(TSCONFIG))
        timed("npm install of the TypeScript consumer", consumer.project.pulumi("install"))  # from the npm registry
    if language == "go":
        (directory / "go.mod").write_text(GO_MOD)
        go = find_go()
        assert go is not None  # make e2e's prerequisites checked
        # The Go language host builds the program with the `go` on PATH.
        consumer.project.extra_env = {"PATH": f"{consumer.project.bin_dir}:{go.parent}:{os.environ.get('PATH', '')}"}
    if language == "python":
        # pip install of the checkout, as the README says, into the consumer's own virtualenv.
        (directory / "requirements.txt").write_text(f"kvm-in-a-pod @ {checkout.as_uri()}\n")
        timed("pip install of the checkout into the Python consumer's venv", consumer.project.pulumi("install"))
    else:
        timed(f"pulumi package add into the {language} consumer", consumer.project.pulumi("package", "add", str(checkout / "kvm_in_a_pod")))
    if language == "go":
        # The README's step after `package add`: the generated SDK's requirements into go.mod.
        started = time.monotonic()
        subprocess.run(["go", "mod", "tidy"], cwd=directory, env=consumer.project.env(), check=True, capture_output=True, timeout=900)
        sys.stderr.write(f"\n[e2e] component package, go mod tidy of the Go consumer: {time.monotonic() - started:.1f} s\n")
    return consumer


@pytest.fixture(scope="module")
def world(consumer_tools: Toolchain, e2e_dir: Path) -> Iterator[World]:
    workdir = e2e_dir / "component-package"
    workdir.mkdir()
    project = Project.create(workdir, consumer_tools, link_venv=False)
    # The checkout's venv, as on a fresh clone: the CLI makes it from requirements.txt.
    timed("pulumi install of the checkout (its venv)", project.pulumi("install"))
    fixtures = project.root / "e2e-fixtures"
    fixtures.mkdir()
    (fixtures / "kubevirt-operator.yaml").write_text(operator_manifest(swagger=None))
    shutil.copy(upstream.upstream_file(*upstream.MULTUS).path, fixtures / "multus-daemonset-thick.yml")
    render = workdir / "render"
    # The README's programs read organization/kvm-in-a-pod/platform: this copy's platform stack, not the shipped one.
    project.stack_file(PLATFORM).unlink()
    project.init_stack(
        PLATFORM,
        {
            f"{NS}role": "platform",
            f"{NS}kubevirt": {"version": "v1.9.0", "operatorManifest": "e2e-fixtures/kubevirt-operator.yaml"},
            f"{NS}multus": {"install": True, "version": "v4.3.0", "manifest": "e2e-fixtures/multus-daemonset-thick.yml"},
            f"{NS}macvtap": {
                "cniInstall": "daemonset",
                "lowerDevices": [
                    {"name": "lan", "lowerDevice": "eth0", "capacity": 10},
                    {"name": "storage", "lowerDevice": "eth1", "mode": "vepa", "mtu": 9000},
                ],
            },
            "kubernetes:renderYamlToDirectory": str(render / PLATFORM),
        },
    )
    timed("up of the platform stack", project.pulumi("up", "--yes", "--skip-preview", stack=PLATFORM))
    project.init_stack(
        STACK,
        {
            f"{NS}role": "vms",
            f"{NS}platformStack": f"organization/kvm-in-a-pod/{PLATFORM}",
            f"{NS}vmNamespace": NAMESPACE,
            f"{NS}createVmNamespace": False,
            f"{NS}vms": [VM],
            "kubernetes:renderYamlToDirectory": str(render / "vms-stack"),
        },
    )
    timed("up of the vms stack", project.pulumi("up", "--yes", "--skip-preview", stack=STACK))
    consumers = {language: make_consumer(language, project, workdir, project.root) for language in CONSUMERS}
    yield World(project, render / "vms-stack", consumers)


def rendered(directory: Path) -> dict[str, bytes]:
    return {path.relative_to(directory).as_posix(): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def without_item_descriptions(value: Any) -> Any:
    """``value`` without the descriptions of array items and map values, which a schema's types cannot carry."""
    if isinstance(value, dict):
        return {
            key: without_item_descriptions(
                {k: v for k, v in item.items() if k != "description"} if key in ("items", "additionalProperties") else item
            )
            for key, item in value.items()
        }
    return value


def test_get_schema_of_the_plugin_directory_prints_the_in_process_schema(world: World) -> None:
    printed = json.loads(world.project.pulumi("package", "get-schema", str(world.project.root / "kvm_in_a_pod")).check().stdout)
    inferred = without_item_descriptions(json.loads(component_provider().schema or "{}"))
    # The CLI binds the schema and prints it back: with "config": {}, without an empty "dependencies" and without the
    # descriptions the analyzer copies onto array items and map values (schema TypeSpec has no description).
    keys = ("name", "version", "resources", "types")
    assert {key: printed[key] for key in keys} == {key: inferred[key] for key in keys}


@pytest.mark.parametrize("language", CONSUMERS)
def test_the_consumer_renders_what_the_vms_stack_renders(world: World, language: str) -> None:
    consumer = world.consumers[language]
    consumer.pulumi("up", "--yes", "--skip-preview").check()
    expected = rendered(world.render)
    assert sorted(expected) == [
        "1-manifest/k8s.cni.cncf.io_v1-networkattachmentdefinition-team-c-lan.yaml",
        "1-manifest/k8s.cni.cncf.io_v1-networkattachmentdefinition-team-c-storage-9441e8.yaml",
        "1-manifest/kubevirt.io_v1-virtualmachineinstance-team-c-web3.yaml",
    ]
    assert rendered(consumer.render) == expected


@pytest.mark.parametrize("language", CONSUMERS)
def test_a_second_preview_of_the_consumer_shows_no_changes(world: World, language: str) -> None:
    world.consumers[language].pulumi("preview", "--expect-no-changes").check()


def with_mistake(program: str, mistake: str, language: str) -> str:
    """The README's program with one mistake in the first NIC (each replacement must hit exactly once)."""
    good, bad = {
        ("yaml", "network"): ("- network: lan\n", "- network: dmz\n"),
        ("typescript", "network"): ('{ network: "lan", mac', '{ network: "dmz", mac'),
        ("yaml", "mac"): ('mac: "02:00:00:00:0c:01"', 'mac: "03:00:00:00:0c:01"'),
        ("typescript", "mac"): ('mac: "02:00:00:00:0c:01"', 'mac: "03:00:00:00:0c:01"'),
    }[(language, mistake)]
    assert program.count(good) == 1, (language, mistake)
    return program.replace(good, bad)


MISTAKES: dict[str, tuple[str, str]] = {
    "network": (
        'property macvtap[0].network with value "dmz" has a problem:',
        "'dmz' is not a macvtap network; allowed: lan, storage (the networks given in networks)",
    ),
    "mac": (
        'property macvtap[0].mac with value "03:00:00:00:0c:01" has a problem:',
        "'03:00:00:00:0c:01' is a multicast address; a NIC needs a unicast MAC (even first octet)",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
@pytest.mark.parametrize("language", ["yaml", "typescript"])
def test_preview_refuses_a_bad_argument_naming_its_path(world: World, language: str, mistake: str) -> None:
    consumer = world.consumers[language]
    good = consumer.program.read_text()
    consumer.program.write_text(with_mistake(good, mistake, language))
    try:
        result = consumer.pulumi("preview")
    finally:
        consumer.program.write_text(good)
    path, rule = MISTAKES[mistake]
    assert result.code != 0
    assert "kvm-in-a-pod:index:MacvtapNetworks resource 'networks' has a problem: invalid arguments" in result.output
    assert f"{path} {rule}" in result.output
    assert not re.search(r"\d+ to (create|update|replace)", result.output)


def test_consumer_outputs_are_those_of_the_vms_stack(world: World) -> None:
    stack = world.project.outputs(STACK)["vms"]["web3"]
    for consumer in world.consumers.values():
        outputs: dict[str, Any] = json.loads(consumer.pulumi("stack", "output", "--json").check().stdout)
        assert outputs["macs"] == stack["macs"], consumer.language


def test_the_yaml_consumer_records_the_package_in_its_pulumi_yaml(world: World) -> None:
    consumer = world.consumers["yaml"]
    packages = yaml.safe_load(consumer.program.read_text())["packages"]
    assert Path(consumer.project.root / packages["kvm-in-a-pod"]).resolve() == (world.project.root / "kvm_in_a_pod").resolve()
