"""Finds the upstream binaries the end-to-end suite runs; it never builds or imitates one.

Where each is looked for, first hit wins:

1. ``$KVM_E2E_BIN`` (one directory holding any of them; symlinks are fine);
2. the bin directory ``e2e/build-tools.sh`` printed (``$KVM_E2E_TOOLS``, set by ``make e2e``), and
   else that same directory computed here (``build_cache_bin``), so ``make bench-engine`` finds
   what ``make e2e`` built: the CLI, the kubernetes provider, kube-apiserver,
   kube-controller-manager and etcd;
3. ``PATH``;
4. the CLI's own plugin directory (``~/.pulumi/plugins/resource-<name>-v<version>/``), where
   ``pulumi plugin install resource command 1.2.1`` puts the command provider.

The language hosts (Python; Node.js, Go and YAML for the component package's consumers) are found as
the CLI finds them: next to ``pulumi`` or on ``PATH``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "e2e" / "versions.env"
BUILD_SCRIPT = REPO_ROOT / "e2e" / "build-tools.sh"
_COMMENT_LINE = re.compile(rb"^[ \t]*#")


def build_cache_bin(environ: dict[str, str] | None = None) -> Path:
    """The bin directory ``e2e/build-tools.sh`` builds into (``--print-bin``), computed the same way.

    ``${KVM_E2E_TOOLS_DIR:-~/.cache/kvm-in-a-pod/e2e-tools}/<key>/bin``, the key the first 16 hex
    digits of the sha256 of versions.env and the script, comment lines left out.
    """
    env = os.environ if environ is None else environ
    content = VERSIONS_FILE.read_bytes() + BUILD_SCRIPT.read_bytes()
    # `grep -v`: every line that is not a comment, each with its newline.
    kept = b"".join(line for line in content.splitlines(keepends=True) if not _COMMENT_LINE.match(line))
    key = hashlib.sha256(kept).hexdigest()[:16]
    root = Path(env.get("KVM_E2E_TOOLS_DIR") or Path(env.get("HOME") or Path.home()) / ".cache" / "kvm-in-a-pod" / "e2e-tools")
    return root / key / "bin"


def pinned_versions() -> dict[str, str]:
    """``e2e/versions.env`` as a dict (plain KEY=VALUE lines; comments ignored)."""
    versions = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            versions[key] = value
    return versions


@dataclass(frozen=True)
class Tool:
    name: str  # the file name
    required: bool
    how_to_get: str
    built_here: bool = False  # e2e/build-tools.sh builds it; the others must be there before `make e2e`


_BUILD_TOOLS = "built by `e2e/build-tools.sh` (make e2e runs it; ~40 min cold on 2 cores)"
TOOLS = (
    Tool("pulumi", True, f"the Pulumi CLI: install Pulumi, or {_BUILD_TOOLS}", built_here=True),
    Tool(
        "pulumi-language-python",
        True,
        "the Python language host, which ships with the Pulumi CLI (https://www.pulumi.com/docs/install/): put its directory on PATH"
        " or in KVM_E2E_BIN",
    ),
    Tool("pulumi-language-python-exec", False, "ships with the Pulumi CLI, next to pulumi-language-python (older hosts need it)"),
    # The component package's consumers (tests/e2e/test_component_package.py): TypeScript, Go and YAML programs.
    Tool(
        "pulumi-language-nodejs",
        True,
        "the Node.js language host, which ships with the Pulumi CLI (https://www.pulumi.com/docs/install/): put its directory on PATH"
        " or in KVM_E2E_BIN",
    ),
    Tool(
        "pulumi-language-go",
        True,
        "the Go language host, which ships with the Pulumi CLI (https://www.pulumi.com/docs/install/): put its directory on PATH"
        " or in KVM_E2E_BIN",
    ),
    Tool(
        "pulumi-language-yaml",
        True,
        "the YAML language host, which ships with the Pulumi CLI (https://www.pulumi.com/docs/install/); one that implements Link"
        " (pulumi-yaml v1.26.2 or newer), which `pulumi package add` calls: put its directory on PATH or in KVM_E2E_BIN",
    ),
    Tool("pulumi-resource-kubernetes", True, f"`pulumi plugin install resource kubernetes 4.34.2`, or {_BUILD_TOOLS}", built_here=True),
    Tool("pulumi-resource-command", True, "`pulumi plugin install resource command 1.2.1` (with a Pulumi CLI that can download)"),
    Tool("kube-apiserver", True, _BUILD_TOOLS, built_here=True),
    Tool("kube-controller-manager", True, _BUILD_TOOLS, built_here=True),
    Tool("etcd", True, _BUILD_TOOLS, built_here=True),
)


def _plugin_dirs(name: str) -> list[Path]:
    """``~/.pulumi/plugins/resource-<kind>-v*/`` for a provider binary, newest name last."""
    if not name.startswith("pulumi-resource-"):
        return []
    home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))
    kind = name.removeprefix("pulumi-resource-")
    return sorted((home / "plugins").glob(f"resource-{kind}-v*"))


def _search_dirs() -> list[Path]:
    dirs = [Path(os.environ[var]) for var in ("KVM_E2E_BIN", "KVM_E2E_TOOLS") if os.environ.get(var)]
    built = build_cache_bin()
    if built.is_dir() and built not in dirs:
        dirs.append(built)
    return dirs


def find(tool: Tool) -> Path | None:
    for directory in _search_dirs():
        candidate = directory / tool.name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(tool.name)
    if on_path:
        return Path(on_path)
    for directory in reversed(_plugin_dirs(tool.name)):
        candidate = directory / tool.name
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Toolchain:
    paths: dict[str, Path]

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]

    def has(self, name: str) -> bool:
        return name in self.paths


class MissingToolsError(Exception):
    pass


def find_toolchain(needed: Collection[str] | None = None) -> Toolchain:
    """Every tool found, or MissingToolsError naming each missing required one and how to get it.

    ``needed`` narrows what is required to those names (the engine benchmark needs no API server).
    """
    paths: dict[str, Path] = {}
    missing = []
    for tool in TOOLS:
        found = find(tool)
        if found is not None:
            paths[tool.name] = found
        elif tool.required if needed is None else tool.name in needed:
            missing.append(f"  - {tool.name}: {tool.how_to_get}")
    # The CLI looks for the language host next to itself or on PATH: if it is elsewhere
    # (KVM_E2E_BIN), the suite puts that directory on PATH.
    if missing:
        searched = ", ".join(str(d) for d in _search_dirs()) or f"(KVM_E2E_BIN and KVM_E2E_TOOLS unset, no {build_cache_bin()})"
        raise MissingToolsError(
            "the end-to-end suite and the engine benchmark run upstream binaries only, and these are missing:\n"
            + "\n".join(missing)
            + f"\nsearched: {searched}, PATH, and the Pulumi plugin directory"
        )
    return Toolchain(paths)
