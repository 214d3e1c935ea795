"""Claims a user checks about `make e2e` and `make bench-engine` before they build or run anything.

- `make e2e` runs `python -m tests.e2e.prerequisites` before `e2e/build-tools.sh`; that check
  exits 3 naming each missing prerequisite with how to get it, and 0 when all are there:
  - Go older than 1.26, or no Go at all, or a Go that does not say its version;
  - each required tool build-tools.sh does not build (the Python, Node.js, Go and YAML language hosts,
    the command provider), and none that it builds;
  - Node.js older than 20, or none, and npm (the component package's TypeScript consumer);
  - root, openssl, unshare, and sshd or apt-get to install it;
  - upstream's swagger and Multus manifest when they cannot be had (not in ../shared, not cached,
    no download), each naming the command that caches it; a file that cannot be had is tried
    once per run, not once per test.
- The suite and the engine benchmark look for the tools in the directory e2e/build-tools.sh
  builds into, computed as the script computes it (`--print-bin`), so `make bench-engine` finds
  what `make e2e` built; a comment edit in the script does not change that directory.
- A KVM_E2E_BIN of symlinks gives the CLI its language host as a real file beside it, where the
  CLI looks (it resolves its own executable).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline.schema_source import Obtained
from tests import upstream
from tests.e2e import prerequisites, tools
from tests.e2e.prerequisites import go_version_problem, system_problems, tool_problems
from tests.e2e.project import link_cli
from tests.e2e.tools import TOOLS, Tool, Toolchain


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("go1.26.0\n", None),
        ("go1.27.2\n", None),
        ("go1.25.7\n", "go: /usr/bin/go is go1.25, older than go1.26; install Go 1.26 or newer (https://go.dev/dl/) and put it on PATH"),
        ("", "go: /usr/bin/go did not say its version (no output); install Go 1.26 or newer (https://go.dev/dl/) and put it on PATH"),
    ],
)
def test_go_must_be_1_26_or_newer(output: str, problem: str | None) -> None:
    assert go_version_problem(Path("/usr/bin/go"), output) == problem


def test_no_go_at_all_is_named_with_where_it_was_looked_for() -> None:
    assert go_version_problem(None, None) == (
        "go: not found on PATH nor at /usr/local/go/bin/go; install Go 1.26 or newer (https://go.dev/dl/) and put it on PATH"
    )


def test_the_tools_build_tools_does_not_build_are_required_and_named_with_how_to_get_them() -> None:
    problems = tool_problems(lambda _tool: None)
    assert [line.split(":", 1)[0] for line in problems] == [
        "pulumi-language-python",
        "pulumi-language-nodejs",
        "pulumi-language-go",
        "pulumi-language-yaml",
        "pulumi-resource-command",
    ]
    assert all("ships with the Pulumi CLI" in line for line in problems[:4])
    assert "pulumi plugin install resource command 1.2.1" in problems[4]


def test_tools_that_are_found_are_not_problems() -> None:
    assert tool_problems(lambda tool: Path("/opt") / tool.name) == []


def test_build_tools_builds_exactly_the_tools_marked_built_here() -> None:
    script = tools.BUILD_SCRIPT.read_text()
    built = {line.split()[1] for line in script.splitlines() if line.startswith("tool ")}
    assert built == {tool.name for tool in TOOLS if tool.built_here}


NODE_HOW = "install Node.js 20 or newer with npm (https://nodejs.org/) for the TypeScript consumer of the component package"


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("v20.20.2\n", None),
        ("v22.1.0\n", None),
        ("v18.19.1\n", f"node: /usr/bin/node is v18.19.1, older than v20; {NODE_HOW}"),
        ("", f"node: /usr/bin/node is of no version, older than v20; {NODE_HOW}"),
    ],
)
def test_node_must_be_20_or_newer(output: str, problem: str | None) -> None:
    assert prerequisites.node_version_problem("/usr/bin/node", output) == problem


def test_no_node_and_no_npm_are_named() -> None:
    problems = prerequisites.node_problems(which=lambda _name: None)
    assert [line.split(":", 1)[0] for line in problems] == ["node", "npm"]


def test_system_prerequisites_are_named_each_with_why() -> None:
    problems = system_problems(is_root=False, which=lambda _name: None, sshd_exists=lambda: False)
    assert [line.split(":", 1)[0] for line in problems] == ["root", "openssl", "unshare", "sshd"]


def test_sshd_may_be_missing_when_apt_get_can_install_it() -> None:
    assert system_problems(is_root=True, which=lambda name: f"/usr/bin/{name}", sshd_exists=lambda: False) == []


def test_upstream_files_that_cannot_be_had_are_named_with_the_command_that_caches_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream, "SHARED_COPIES", {})
    # Nothing listens on 127.0.0.1:9: every download fails at once, as without internet.
    problems = []
    for artifact, version in (upstream.SWAGGER, upstream.MULTUS):
        with pytest.raises(upstream.UpstreamUnavailableError) as refused:
            upstream.upstream_file(artifact, version, tmp_path / "cache", "http://127.0.0.1:9")
        problems.append(str(refused.value).replace(str(tmp_path / "cache"), "CACHE"))
    assert problems[0].startswith(
        "needs KubeVirt v1.9.0 swagger (kubevirt-v1.9.0-swagger.json):"
        " http://127.0.0.1:9/kubevirt/kubevirt/v1.9.0/api/openapi-spec/swagger.json: cannot connect"
    )
    assert problems[0].endswith(
        "`make plan` where https://raw.githubusercontent.com/kubevirt/kubevirt/v1.9.0/api/openapi-spec/swagger.json can be reached"
        " caches it in CACHE (or `make plan MIRROR=URL`, or keep a copy in ../shared)"
    )
    assert problems[1].startswith("needs Multus v4.3.0 thick-plugin manifest (multus-v4.3.0-daemonset-thick.yml): ")


def test_the_prerequisite_check_exits_3_listing_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(prerequisites, "all_problems", lambda: ["go: not found", "pulumi-resource-command: install it"])
    assert prerequisites.main([]) == 3
    assert capsys.readouterr().err == (
        "make e2e: cannot start; nothing was built. Missing:\n  - go: not found\n  - pulumi-resource-command: install it\n"
    )


def test_make_e2e_checks_the_prerequisites_before_it_builds() -> None:
    recipe = tools.REPO_ROOT.joinpath("Makefile").read_text().split("\ne2e:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("-m tests.e2e.prerequisites") < recipe.index("e2e/build-tools.sh")


# --- where the tools are found ------------------------------------------------------------------


def test_the_build_cache_directory_is_the_one_build_tools_prints(tmp_path: Path) -> None:
    printed = subprocess.run(
        ["bash", str(tools.BUILD_SCRIPT), "--print-bin"],
        env={**os.environ, "KVM_E2E_TOOLS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert Path(printed) == tools.build_cache_bin({"KVM_E2E_TOOLS_DIR": str(tmp_path)})
    assert not (tmp_path / Path(printed).parent.name).exists()  # --print-bin builds and creates nothing


def test_a_comment_edit_keeps_the_build_cache_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "build-tools.sh"
    script.write_bytes(tools.BUILD_SCRIPT.read_bytes())
    monkeypatch.setattr(tools, "BUILD_SCRIPT", script)
    before = tools.build_cache_bin({"KVM_E2E_TOOLS_DIR": str(tmp_path)})
    script.write_text(script.read_text() + "# a note\n")
    assert tools.build_cache_bin({"KVM_E2E_TOOLS_DIR": str(tmp_path)}) == before
    script.write_text(script.read_text() + "true\n")
    assert tools.build_cache_bin({"KVM_E2E_TOOLS_DIR": str(tmp_path)}) != before


def test_tools_in_the_build_cache_are_found_without_any_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVM_E2E_TOOLS_DIR", str(tmp_path / "tools"))
    for variable in ("KVM_E2E_BIN", "KVM_E2E_TOOLS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    bin_dir = tools.build_cache_bin()
    bin_dir.mkdir(parents=True)
    (bin_dir / "etcd").write_text("#!/bin/sh\n")
    (bin_dir / "etcd").chmod(0o755)
    assert tools.find(Tool("etcd", True, "")) == bin_dir / "etcd"


def test_a_folder_of_symlinks_gives_the_cli_its_language_host_as_real_files_beside_it(tmp_path: Path) -> None:
    cli_dir, host_dir, links, private = (tmp_path / name for name in ("cli", "host", "links", "private"))
    for directory in (cli_dir, host_dir, links, private):
        directory.mkdir()
    (cli_dir / "pulumi").write_text("#!/bin/sh\necho cli\n")
    (host_dir / "pulumi-language-python").write_text("#!/bin/sh\necho host\n")
    (links / "pulumi").symlink_to(cli_dir / "pulumi")
    (links / "pulumi-language-python").symlink_to(host_dir / "pulumi-language-python")
    link_cli(Toolchain({name: links / name for name in ("pulumi", "pulumi-language-python")}), private)
    for name, content in (("pulumi", "echo cli"), ("pulumi-language-python", "echo host")):
        linked = private / name
        assert not linked.is_symlink(), name
        assert os.path.realpath(linked) == str(linked)
        assert content in linked.read_text()


def test_a_file_that_cannot_be_had_is_tried_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that drops packets costs the download limit once, not once per test that needs the file."""
    tries: list[str] = []

    def unreachable(artifact: Any, version: str, policy: Any) -> Obtained:
        tries.append(version)
        return Obtained(artifact, version, None, problem="no answer within 30 s")

    monkeypatch.setattr(upstream, "SHARED_COPIES", {})
    monkeypatch.setattr(upstream, "obtain", unreachable)
    for _ in range(3):
        with pytest.raises(upstream.UpstreamUnavailableError, match="no answer within 30 s"):
            upstream.upstream_file(*upstream.SWAGGER, tmp_path / "cache")
    assert tries == ["v1.9.0"]
