"""What the dataplane suite and the e2e suite's dataplane step share: the step report, the upstream
binaries, the guest image, the accelerator, and one running dataplane for a stack's objects.

``tests/dataplane/conftest.py`` and ``tests/e2e/conftest.py`` import the fixtures from here.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.dataplane.cluster import Binaries, Dataplane
from tests.dataplane.guest import CACHE, GuestImage, build_image, pick_accelerator
from tests.dataplane.lan import running_lan
from tests.dataplane.objects import StackObjects
from tests.dataplane.prerequisites import DataplaneTools, MissingPrerequisitesError, find_dataplane_tools


@dataclass
class Report:
    """What the suite's summary prints: each step's time, per scenario."""

    steps: list[tuple[str, str, float]] = field(default_factory=list)  # (scenario, step, seconds)
    notes: list[str] = field(default_factory=list)
    walls: dict[str, float] = field(default_factory=dict)  # scenario -> setup through teardown, its tests included

    def add(self, scenario: str, step: str, seconds: float) -> None:
        self.steps.append((scenario, step, seconds))
        sys.stderr.write(f"\n[dataplane] {scenario}: {step}: {seconds:.1f} s\n")

    @contextlib.contextmanager
    def timed(self, scenario: str, step: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.add(scenario, step, time.monotonic() - started)

    @contextlib.contextmanager
    def scenario(self, scenario: str) -> Iterator[None]:
        """Around a scenario fixture's whole body: its wall time, the tests that use it included."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.walls[scenario] = time.monotonic() - started


REPORT = Report()


@pytest.fixture(scope="session")
def tools() -> DataplaneTools:
    try:
        return find_dataplane_tools()
    except MissingPrerequisitesError as missing:
        pytest.exit(str(missing), returncode=3)


@pytest.fixture(scope="session")
def guest_image(tools: DataplaneTools) -> Iterator[GuestImage]:
    out = Path(tempfile.mkdtemp(prefix="kvmdp-image-"))
    out.chmod(0o755)  # qemu reads it as uid 107
    try:
        with REPORT.timed("session", "guest image: kernel package unpacked (cached), initramfs built"):
            image = build_image(tools.kernel_package, tools.busybox, tools.ping, CACHE, out)
        yield image
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def accelerator(guest_image: GuestImage) -> str:
    with REPORT.timed("session", "KVM probe"):
        accel, why = pick_accelerator(guest_image)
    REPORT.notes.append(f"guests run with {'KVM' if accel == 'kvm' else 'qemu TCG emulation (-accel tcg -cpu max)'}: {why}")
    REPORT.notes.append(f"guest kernel: {guest_image.kernel_package}")
    return accel


@contextlib.contextmanager
def running_dataplane(
    scenario: str,
    objects: StackObjects,
    tools: DataplaneTools,
    image: GuestImage,
    accel: str,
    nodes: Mapping[str, Sequence[str]],
    lower_devices: Mapping[str, tuple[int, bool]] | None = None,
    private_dirs: Sequence[str] = (),
    installed: Mapping[str, Path] | None = None,
) -> Iterator[Dataplane]:
    """The LAN, the nodes (node -> lower devices it lacks) with CNI and device plugin, registered.

    ``installed``: per node, a CNI binary already installed elsewhere to use as it is (see
    ``Dataplane.start_nodes``); else the stack's own install runs.
    """
    started = time.monotonic()
    with running_lan(lower_devices or objects.lower_devices(), nodes, private_dirs) as lan:
        dataplane = Dataplane(objects, lan, Binaries(tools.device_plugin, tools.cni), image, accel)
        try:
            dataplane.start_nodes(installed)
            REPORT.add(scenario, f"LAN, {len(nodes)} nodes, CNI installed", time.monotonic() - started)
            REPORT.add(scenario, "device plugins registered with the kubelet", dataplane.wait_registered())
            yield dataplane
        finally:
            with REPORT.timed(scenario, "teardown: CNI DEL, processes, namespaces"):
                dataplane.close()
