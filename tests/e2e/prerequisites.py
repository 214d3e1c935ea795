"""What ``make e2e`` needs and cannot build, checked before ``e2e/build-tools.sh`` spends 35+ minutes building the rest.

``python -m tests.e2e.prerequisites`` (the Makefile runs it first) exits 0 when everything is there,
else 3 with one line per missing thing and how to get it:

- Go 1.26 or newer, which builds the tools (``go`` on PATH, or ``/usr/local/go/bin/go`` as
  ``e2e/build-tools.sh`` tries);
- upstream's files by version, through the offline plan's cache (KubeVirt's swagger, which the
  suite turns into CRDs, and Multus's thick-plugin manifest, which the stack applies): a missing
  one is downloaded into the cache; ``../shared`` is used when present, and never needed;
- the tools ``e2e/build-tools.sh`` does not build (``tests/e2e/tools.py``: the Python language host,
  the command provider);
- root (the nodes' mount namespaces), ``openssl`` (the control plane's certificates), ``unshare``,
  and ``sshd`` or ``apt-get`` to install it (tests/sshd.py);
- Node.js 20 or newer and ``npm``, for the component package's TypeScript consumer;
- what the dataplane step after ``up`` needs (``tests/dataplane/prerequisites.py``: the macvtap
  device plugin and CNI of one release, qemu and the guest's packages, which the Makefile's
  ``e2e/dataplane-packages.sh`` installs before this check), and an Ethernet interface in the
  root network namespace for the stack's ``lowerDevice``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tests import upstream
from tests.dataplane.prerequisites import MissingPrerequisitesError, find_dataplane_tools
from tests.e2e.nodes import host_interface
from tests.e2e.tools import TOOLS, find
from tests.sshd import SSHD

MIN_GO = (1, 26)
# @pulumi/pulumi 3.248.0, the TypeScript consumer's (tests/e2e/test_component_package.py), declares engines.node >=20.
MIN_NODE = 20
FALLBACK_GO = Path("/usr/local/go/bin/go")  # what e2e/build-tools.sh tries when go is not on PATH
EXIT_MISSING = 3
_GO_VERSION = re.compile(r"\bgo(\d+)\.(\d+)")


def go_version_problem(go: Path | None, version_output: str | None) -> str | None:
    """Why this Go cannot build the tools (from ``go env GOVERSION``'s output), or None."""
    how = "install Go 1.26 or newer (https://go.dev/dl/) and put it on PATH"
    if go is None:
        return f"go: not found on PATH nor at {FALLBACK_GO}; {how}"
    match = _GO_VERSION.search(version_output or "")
    if match is None:
        return f"go: {go} did not say its version ({(version_output or '').strip() or 'no output'}); {how}"
    found = (int(match[1]), int(match[2]))
    if found < MIN_GO:
        return f"go: {go} is go{found[0]}.{found[1]}, older than go{MIN_GO[0]}.{MIN_GO[1]}; {how}"
    return None


def find_go() -> Path | None:
    on_path = shutil.which("go")
    if on_path:
        return Path(on_path)
    return FALLBACK_GO if FALLBACK_GO.is_file() and os.access(FALLBACK_GO, os.X_OK) else None


def go_problem() -> str | None:
    go = find_go()
    if go is None:
        return go_version_problem(None, None)
    result = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=False)
    return go_version_problem(go, result.stdout if result.returncode == 0 else result.stderr)


def node_version_problem(node: str | None, version_output: str | None) -> str | None:
    """Why this Node.js cannot run the TypeScript consumer (from ``node --version``), or None."""
    how = f"install Node.js {MIN_NODE} or newer with npm (https://nodejs.org/) for the TypeScript consumer of the component package"
    if node is None:
        return f"node: not on PATH; {how}"
    match = re.match(r"v(\d+)\.", (version_output or "").strip())
    if match is None or int(match[1]) < MIN_NODE:
        return f"node: {node} is {(version_output or '').strip() or 'of no version'}, older than v{MIN_NODE}; {how}"
    return None


def node_problems(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    node = which("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60, check=False).stdout if node else None
    problems = [problem] if (problem := node_version_problem(node, version)) else []
    if which("npm") is None:
        problems.append("npm: not on PATH; it comes with Node.js (the TypeScript consumer's `npm install` uses the npm registry)")
    return problems


def upstream_problems() -> list[str]:
    """Upstream's swagger and Multus manifest, obtained into the cache if need be; one line per one that cannot be had."""
    problems = []
    for artifact, version in (upstream.SWAGGER, upstream.MULTUS):
        try:
            upstream.upstream_file(artifact, version)
        except upstream.UpstreamUnavailableError as error:
            problems.append(f"upstream file: {error}")
    return problems


def tool_problems(find_tool: Callable[..., Path | None] = find) -> list[str]:
    """The required tools build-tools.sh does not build, each missing one with how to get it."""
    return [f"{tool.name}: {tool.how_to_get}" for tool in TOOLS if tool.required and not tool.built_here and find_tool(tool) is None]


def system_problems(
    is_root: bool, which: Callable[[str], str | None] = shutil.which, sshd_exists: Callable[[], bool] = lambda: Path(SSHD).exists()
) -> list[str]:
    problems = []
    if not is_root:
        problems.append("root: the e2e nodes need root (unshare -m, tmpfs mounts over /opt/cni/bin); run make e2e as root")
    for command, why in (("openssl", "makes the control plane's certificates"), ("unshare", "gives each node its own mounts")):
        if which(command) is None:
            problems.append(f"{command}: not on PATH ({why}); install it (openssl; util-linux)")
    if not sshd_exists() and which("apt-get") is None:
        problems.append(f"sshd: {SSHD} is missing and there is no apt-get to install it; install openssh-server")
    return problems


def dataplane_problems() -> list[str]:
    """The dataplane step's prerequisites, and the host interface the stack's lowerDevice names."""
    problems = []
    if host_interface() is None:
        problems.append("an Ethernet interface in the root network namespace (the stack's lowerDevice; the nodes' preflight checks it)")
    try:
        find_dataplane_tools()
    except MissingPrerequisitesError as error:
        problems.append(str(error))
    return problems


def all_problems() -> list[str]:
    go = go_problem()
    return [
        *([go] if go else []),
        *upstream_problems(),
        *tool_problems(),
        *system_problems(os.geteuid() == 0),
        *node_problems(),
        *dataplane_problems(),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # no options
    problems = all_problems()
    if problems:
        print("make e2e: cannot start; nothing was built. Missing:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_MISSING
    print(
        "make e2e: prerequisites found (Go, upstream files, the tools build-tools.sh does not build, root, openssl, unshare, sshd,"
        " Node.js and npm, the dataplane step's binaries and packages)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
