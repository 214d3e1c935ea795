"""A copy of the project driven by the real ``pulumi`` CLI, isolated from the user's own Pulumi.

The copy holds the repository's files (no ``venv``, no ``policies/venv``, no build output),
with ``venv`` linked to the repository's, as ``make test`` made it. Pulumi runs with its own
PULUMI_HOME, a local file backend, a passphrase secrets provider and no plugin downloads; the
providers found by ``tools.py`` are installed into that home with ``pulumi plugin install
--file``, so no ambient plugin is used. The CLI finds its Python language host next to itself,
so the CLI and the host are linked (or copied) together into one private bin directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.tools import REPO_ROOT, Toolchain, pinned_versions

# Beside the CLI, where it looks for them: the program's, and the component package consumers' (Node.js, Go, YAML).
LANGUAGE_HOSTS = (
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-language-nodejs",
    "pulumi-language-go",
    "pulumi-language-yaml",
)
COPY_IGNORE = shutil.ignore_patterns(
    "venv", "build", ".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.pyc", "*.egg-info", "node_modules", "sdks"
)
PASSPHRASE = "kvm-in-a-pod-e2e"


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a real file with ``source``'s content: a hard link, else a copy.

    The symlink is resolved first: Linux's link(2) (which os.link calls) links a symlink itself, so
    a KVM_E2E_BIN of symlinks gave a private bin dir of symlinks, and the CLI, which looks for its
    language host next to its resolved executable, did not find it ("no language plugin
    'pulumi-language-python' found").
    """
    real = source.resolve()
    try:
        os.link(real, target)
    except OSError:
        shutil.copy2(real, target)


def link_cli(tools: Toolchain, bin_dir: Path) -> None:
    """The CLI and its language host side by side in ``bin_dir``, where the CLI looks for the host."""
    for name in ("pulumi", *LANGUAGE_HOSTS):
        if tools.has(name):
            _link_or_copy(tools[name], bin_dir / name)


@dataclass
class PulumiResult:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def diagnostics(self) -> str:
        """The CLI's own error lines first (a failed run's output is mostly tracebacks)."""
        lines = self.output.splitlines()
        errors = [line for line in lines if "error:" in line.lower() or "failed" in line.lower()]
        return "\n".join(errors[:40]) + "\n--- last lines ---\n" + "\n".join(lines[-60:])

    def check(self) -> PulumiResult:
        if self.code != 0:
            raise AssertionError(f"`{' '.join(self.argv)}` exited {self.code} after {self.seconds:.1f}s:\n{self.diagnostics()}")
        return self


@dataclass
class Project:
    root: Path  # the project copy
    home: Path  # PULUMI_HOME, the state backend and the private bin dir live below it
    tools: Toolchain
    kubeconfig: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, workdir: Path, tools: Toolchain, kubeconfig: Path | None = None, *, link_venv: bool = True) -> Project:
        """``link_venv=False``: no ``venv``, for the CLI to create as on a fresh clone. The component package's plugin
        runs in it, and the CLI installs a plugin's dependencies with ``python -m venv`` first
        (sdk/python/toolchain/pip.go, ``InstallDependencies``), which refuses a symlink ("Unable to create directory")."""
        root = workdir / "project"
        shutil.copytree(REPO_ROOT, root, ignore=COPY_IGNORE)
        if link_venv:
            (root / "venv").symlink_to((REPO_ROOT / "venv").resolve())
        project = cls(root, workdir / "pulumi", tools, kubeconfig)
        project._prepare_home()
        return project

    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(self.home / "home"),
            "PULUMI_BACKEND_URL": f"file://{self.home / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "NO_COLOR": "1",
        }
        for key in ("KVM_E2E_BIN", "KVM_E2E_TOOLS", "VIRTUAL_ENV", "PYTHONPATH"):
            env.pop(key, None)
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        env.update(self.extra_env)
        return env

    def _prepare_home(self) -> None:
        self.bin_dir.mkdir(parents=True)
        (self.home / "state").mkdir()
        link_cli(self.tools, self.bin_dir)
        versions = pinned_versions()
        for kind, version in (("kubernetes", versions["PY_PULUMI_KUBERNETES_VERSION"]), ("command", versions["PULUMI_COMMAND_VERSION"])):
            self.pulumi("plugin", "install", "resource", kind, version, "--file", str(self.tools[f"pulumi-resource-{kind}"])).check()

    def pulumi(
        self, *args: str, stack: str | None = None, timeout: float = 900, stdin: str | None = None, cwd: Path | None = None
    ) -> PulumiResult:
        argv = [str(self.bin_dir / "pulumi"), *args, "--non-interactive"]
        if stack is not None:
            argv += ["--stack", stack]
        started = time.monotonic()
        result = subprocess.run(
            argv, cwd=cwd or self.root, env=self.env(), capture_output=True, text=True, timeout=timeout, input=stdin, check=False
        )
        return PulumiResult(argv, result.returncode, result.stdout, result.stderr, time.monotonic() - started)

    # --- stacks -------------------------------------------------------------------------------

    def stack_file(self, stack: str) -> Path:
        return self.root / f"Pulumi.{stack}.yaml"

    def init_stack(self, stack: str, config: dict[str, Any]) -> None:
        """``pulumi stack init`` then the config written into its stack file (plain values)."""
        self.pulumi("stack", "init", stack).check()
        document = yaml.safe_load(self.stack_file(stack).read_text()) or {}
        document.setdefault("config", {}).update(config)
        self.stack_file(stack).write_text(yaml.safe_dump(document, sort_keys=False))

    def set_config(self, stack: str, key: str, value: Any) -> None:
        document = yaml.safe_load(self.stack_file(stack).read_text()) or {}
        document.setdefault("config", {})[key] = value
        self.stack_file(stack).write_text(yaml.safe_dump(document, sort_keys=False))

    def set_secret(self, stack: str, key: str, value: str) -> None:
        # As the README says: the value on stdin, never on a command line.
        self.pulumi("config", "set", "--secret", key, stack=stack, stdin=value).check()

    def export_state(self, stack: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.pulumi("stack", "export", stack=stack).check().stdout)
        return result

    def outputs(self, stack: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.pulumi("stack", "output", "--json", stack=stack).check().stdout)
        return result
