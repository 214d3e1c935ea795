"""The dataplane suite (``make dataplane``): marker, each step's time as it finishes, the summary.

The fixtures live in ``tests/dataplane/fixtures.py``, which the e2e suite's dataplane step shares.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.dataplane.claims")

from tests.dataplane.fixtures import REPORT, accelerator, guest_image, tools  # noqa: E402 (after the rewrite hook)

__all__ = ["accelerator", "guest_image", "tools"]

# dev and lab together, on 2 cores with emulation (issue 17): reported, never asserted.
TARGET_SECONDS = 180.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.dataplane)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        name = report.nodeid.split("::", 1)[-1]
        REPORT.add("test", f"{name} {report.outcome}", report.duration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT.steps:
        return
    write = terminalreporter.write_line
    write("")
    write("dataplane summary (seconds)")
    for note in REPORT.notes:
        write(f"  {note}")
    for scenario, step, seconds in REPORT.steps:
        write(f"  {scenario:<8} {seconds:6.1f}  {step}")
    write("  wall time per scenario (setup through teardown, its tests included):")
    for scenario, seconds in REPORT.walls.items():
        write(f"  {scenario:<8} {seconds:6.1f}")
    if "dev" in REPORT.walls and "lab" in REPORT.walls:
        dev_lab = REPORT.walls["dev"] + REPORT.walls["lab"]
        verdict = "met" if dev_lab < TARGET_SECONDS else "NOT met"
        write(f"  dev + lab: {dev_lab:.1f} s (target: under {TARGET_SECONDS:.0f} s on 2 cores with emulation: {verdict})")
