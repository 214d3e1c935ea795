"""Claims about how the components are packaged: the pip package and the component package's plugin directory.

- the plugin directory, run as the Python language host runs it (``python kvm_in_a_pod <engine>``),
  serves over gRPC the schema the in-process provider infers, at the project's version, which is
  a semantic version (the CLI checks a release out as the tag ``v<version>``);
- it runs in the program's own virtualenv, with the program's own requirements;
- the pip package depends on every distribution the components import, in ranges that hold the
  versions requirements.txt pins, and on nothing else;
- its wheel holds every module of ``components`` and ``kvm_in_a_pod`` and the node scripts,
  and nothing of the tests, the offline plan or the policies; installed on its own, it serves the
  same schema, at the version in its metadata.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.package import component_provider
from offline.engine import PROJECT_ROOT

PLUGIN_DIR = PROJECT_ROOT / "kvm_in_a_pod"
PACKAGES = ("components", "kvm_in_a_pod")
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def in_process_schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads(component_provider().schema or "{}")
    return schema


@pytest.fixture(scope="module")
def plugin_port() -> Iterator[int]:
    """The plugin directory's provider host, started as pulumi-language-python's RunPlugin starts it."""
    process = subprocess.Popen([sys.executable, str(PLUGIN_DIR), "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        process.kill()
        process.communicate()


def test_the_plugin_directory_serves_the_in_process_schema_at_the_projects_version(plugin_port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{plugin_port}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        schema = json.loads(stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30).schema)
        version = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30).version
    assert schema == in_process_schema()
    assert version == PYPROJECT["project"]["version"]


def test_the_version_is_a_semantic_version_a_release_tag_can_carry() -> None:
    # sdk/go/common/workspace/plugins.go, gitSource.Download: refs/tags/v<major.minor.patch>.
    assert re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", PYPROJECT["project"]["version"])


def test_the_plugin_runs_in_the_programs_virtualenv_with_its_requirements() -> None:
    plugin = yaml.safe_load((PLUGIN_DIR / "PulumiPlugin.yaml").read_text())["runtime"]
    program = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())["runtime"]
    assert plugin["name"] == program["name"] == "python"
    assert plugin["options"]["toolchain"] == program["options"]["toolchain"]
    assert (PLUGIN_DIR / plugin["options"]["virtualenv"]).resolve() == (PROJECT_ROOT / program["options"]["virtualenv"]).resolve()
    lines = [line for line in (PLUGIN_DIR / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["-r ../requirements.txt"]


def third_party_imports() -> set[str]:
    """The top-level modules the packaged code imports that are neither its own nor the standard library's."""
    found: set[str] = set()
    for package in PACKAGES:
        for source in (PROJECT_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in PACKAGES}


def test_the_package_depends_on_what_the_components_import_at_the_pinned_versions() -> None:
    distributions = importlib.metadata.packages_distributions()
    imported = {canonicalize_name(distributions[module][0]) for module in third_party_imports()}
    declared = {canonicalize_name(Requirement(line).name): Requirement(line).specifier for line in PYPROJECT["project"]["dependencies"]}
    pinned = {
        canonicalize_name(Requirement(line).name): str(next(iter(Requirement(line).specifier)).version)
        for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert set(declared) == imported
    assert {name: pinned[name] in declared[name] for name in declared} == dict.fromkeys(declared, True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of what it is made of (the checkout's build/ is the plan's)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_the_components_and_the_node_scripts_and_nothing_else(wheel: Path) -> None:
    names = {name for name in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in name}
    expected = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for package in PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*")
        if path.suffix in (".py", ".sh") and "__pycache__" not in path.parts
    }
    assert names == expected
    assert {"components/node_scripts/install-macvtap-cni.sh", "kvm_in_a_pod/__main__.py"} <= names


def test_installed_on_its_own_it_serves_the_same_schema_at_its_metadatas_version(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True
    )
    script = (
        "import json, components\n"
        "from components.package import component_provider\n"
        "print(json.dumps([components.__file__, component_provider().schema]))\n"
    )
    # -P: the working directory is not put on the path; PYTHONPATH is the installed copy only.
    done = subprocess.run(
        [sys.executable, "-P", "-c", script], cwd=tmp_path, env={"PYTHONPATH": str(target)}, capture_output=True, text=True, check=True
    )
    where, schema = json.loads(done.stdout)
    assert Path(where).is_relative_to(target)
    assert json.loads(schema) == in_process_schema()
