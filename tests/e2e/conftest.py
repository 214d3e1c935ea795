"""Fixtures of the end-to-end suite: upstream tools, a control plane, two SSH nodes, the
KubeVirt test double. Run with ``make e2e`` (``KVM_E2E=1 pytest tests/e2e -m e2e``).

Each session-scoped server is stopped by PID when the session ends, also on failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.dataplane.claims")

from tests.dataplane.fixtures import accelerator, guest_image, tools  # noqa: E402 (the dataplane step's)
from tests.e2e.controlplane import ControlPlane, running_control_plane  # noqa: E402
from tests.e2e.kube import Kube  # noqa: E402
from tests.e2e.kubevirt_fixture import vmi_update_policy  # noqa: E402
from tests.e2e.nodes import Node, require_root, same_client_key  # noqa: E402
from tests.e2e.prerequisites import dataplane_problems, upstream_problems  # noqa: E402
from tests.e2e.processes import Server  # noqa: E402
from tests.e2e.settings import DOUBLE_DELAY_SECONDS, NEVER_READY_PREFIX  # noqa: E402
from tests.e2e.tools import MissingToolsError, Toolchain, find_toolchain  # noqa: E402

__all__ = ["accelerator", "guest_image", "tools"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """`make e2e` prints each step with its time as it finishes."""
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        name = report.nodeid.split("::")[-1]
        sys.stderr.write(f"\n[e2e] {name}: {report.outcome} in {report.duration:.1f} s\n")


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    problems: list[str] = []
    not_root = require_root()
    if not_root:
        problems.append(not_root)
    problems += upstream_problems()
    try:
        found = find_toolchain()
    except MissingToolsError as error:
        problems.append(str(error))
    # The dataplane step after `up` (README, "The dataplane, for real").
    problems += dataplane_problems()
    if problems:
        pytest.exit("end-to-end suite cannot run:\n" + "\n".join(problems), returncode=3)
    return found


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def control_plane(toolchain: Toolchain, e2e_dir: Path) -> Iterator[ControlPlane]:
    with running_control_plane(toolchain, e2e_dir / "control-plane") as plane:
        kube = plane.kube()
        for manifest in vmi_update_policy():
            kube.create(manifest)
        yield plane


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Kube:
    return control_plane.kube()


@pytest.fixture(scope="session")
def kubevirt_double(control_plane: ControlPlane, e2e_dir: Path) -> Iterator[Server]:
    pki = control_plane.credentials.ca_file.parent
    double = Server(
        "kubevirt-double",
        [sys.executable, "-m", "tests.e2e.kubevirt_double", "--server", control_plane.server, "--pki", str(pki),
         "--delay", str(DOUBLE_DELAY_SECONDS), "--never-ready-prefix", NEVER_READY_PREFIX],
        e2e_dir / "kubevirt-double.log",
    )  # fmt: skip
    double.wait_until(lambda: "test double up" in double.log.read_text(), 20, "started")
    yield double
    double.stop()


@pytest.fixture(scope="session")
def nodes(toolchain: Toolchain, e2e_dir: Path) -> Iterator[list[Node]]:
    started = [Node("node01", e2e_dir / "node01"), Node("node02", e2e_dir / "node02")]
    for node in started:
        node.prepare()
    same_client_key(started)
    try:
        for node in started:
            node.start()
        yield started
    finally:
        for node in started:
            node.stop()
