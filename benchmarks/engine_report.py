"""The engine benchmark's cells, their measured steps, and the Markdown table and targets made of them.

``benchmarks.engine`` runs the cells; this module is what a run is described by and reported as.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmarks.run import machine

RESULTS_START = "<!-- engine benchmark results: written by `python -m benchmarks.engine` -->"
RESULTS_END = "<!-- end of engine benchmark results -->"

Layout = Literal["one", "split"]
Kind = Literal["program", "floor"]


@dataclass(frozen=True)
class Cell:
    vms: int
    layout: Layout
    checkpoints: bool
    kind: Kind

    @property
    def label(self) -> str:
        return f"{self.kind}-{self.layout}-{self.vms}-{'ck' if self.checkpoints else 'nock'}"


@dataclass(frozen=True)
class Step:
    """One `pulumi` command on one stack."""

    command: str  # preview | up
    stack: str
    role: str
    vms: int
    seconds: float
    cpu_seconds: float  # the CLI and every process it started and waited for
    load: float  # 1-minute load average when the command started
    resources: int  # as the CLI counted them (to create / created)
    checkpoint_bytes: int  # the stack's checkpoint after the command (0 after a preview)


@dataclass
class CellResult:
    cell: Cell
    steps: list[Step] = field(default_factory=list)

    def total(self, command: str, role: str | None = None) -> float:
        return sum(s.seconds for s in self.steps if s.command == command and (role is None or s.role == role))

    def slowest_vms_stack_up(self) -> float:
        return max((s.seconds for s in self.steps if s.command == "up" and s.role == "vms"), default=0.0)


# --- the matrix ------------------------------------------------------------------------------

DEFAULT_SIZES = (10, 100, 300, 1000)
# With checkpoints kept, one stack grows superlinearly (the file backend rewrites the whole
# checkpoint after every step): issue 14 measured 115 s at N=300. N=1000 in one stack would take
# many minutes per run on this shared machine, so it is left out by default (--full runs it).
SLOW_CELLS = frozenset({(1000, "one", True)})


def matrix(sizes: Sequence[int], full: bool) -> tuple[list[Cell], list[str]]:
    cells, skipped = [], []
    for vms in sizes:
        for layout in ("one", "split"):
            for checkpoints in (False, True):
                if not full and (vms, layout, checkpoints) in SLOW_CELLS:
                    skipped.append(f"N={vms}, {layout} stack, checkpoints kept: skipped (superlinear; --full runs it)")
                    continue
                for kind in ("program", "floor"):
                    cells.append(Cell(vms, layout, checkpoints, kind))
    return cells, skipped


# --- the report ------------------------------------------------------------------------------


def render_markdown(
    results: list[CellResult], skipped: list[str], started: str, load: tuple[float, ...], load_end: tuple[float, ...]
) -> str:
    m = machine()
    versions = pulumi_versions()
    lines = [
        RESULTS_START,
        f"Run {started} on {m['machine']}, {m['cpu']}, {m['cores']} cores; {versions}.",
        f"Load average (1/5/15 min) at start {' / '.join(f'{v:.2f}' for v in load)}, at end {' / '.join(f'{v:.2f}' for v in load_end)}.",
        "One run per cell, each on new stacks; seconds of wall time, `cpu` = CPU seconds of the CLI and everything it ran; "
        "`load` = 1-minute load average when the command started. Split: a platform stack, then vms stacks of <= 200 VMs.",
        "",
        "| N | layout | checkpoints | kind | preview s | up s | up cpu s | up s/VM | load | resources | checkpoint KiB "
        "| platform up s | slowest vms-stack up s |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r.cell
        ups = [s for s in r.steps if s.command == "up"]
        vm_ups = [s for s in ups if s.role != "platform"]
        up_s = sum(s.seconds for s in vm_ups)
        lines.append(
            f"| {c.vms} | {c.layout} | {'kept' if c.checkpoints else 'skipped'} | {c.kind} "
            f"| {sum(s.seconds for s in r.steps if s.command == 'preview' and s.role != 'platform'):.1f} "
            f"| {up_s:.1f} | {sum(s.cpu_seconds for s in vm_ups):.1f} | {up_s / c.vms:.3f} "
            f"| {max(s.load for s in r.steps):.1f} | {sum(s.resources for s in ups)} "
            f"| {max(s.checkpoint_bytes for s in ups) / 1024:.0f} "
            f"| {r.total('up', 'platform'):.1f} | {r.slowest_vms_stack_up():.1f} |"
            if c.layout == "split"
            else f"| {c.vms} | one | {'kept' if c.checkpoints else 'skipped'} | {c.kind} "
            f"| {r.total('preview'):.1f} | {up_s:.1f} | {sum(s.cpu_seconds for s in vm_ups):.1f} | {up_s / c.vms:.3f} "
            f"| {max(s.load for s in r.steps):.1f} | {sum(s.resources for s in ups)} "
            f"| {max(s.checkpoint_bytes for s in ups) / 1024:.0f} | - | - |"
        )
    lines += ["", "Split: `up s` is the vms stacks' total (the platform stack's is its own column).", ""]
    lines += [f"- {line}" for line in skipped]
    lines += ["", "| target | measured | met |", "|---|---|---|", *target_rows(results), RESULTS_END]
    return "\n".join(lines) + "\n"


def _find(results: list[CellResult], vms: int, layout: Layout, checkpoints: bool, kind: Kind) -> CellResult | None:
    return next((r for r in results if r.cell == Cell(vms, layout, checkpoints, kind)), None)


def _vm_up(result: CellResult) -> float:
    return sum(s.seconds for s in result.steps if s.command == "up" and s.role != "platform")


def target_rows(results: list[CellResult]) -> list[str]:
    rows = []

    def row(target: str, measured: str, met: bool | None) -> None:
        rows.append(f"| {target} | {measured} | {'n/a' if met is None else 'yes' if met else 'no'} |")

    fast = _find(results, 1000, "one", False, "program")
    row(
        "1,000 VMs in one stack, `pulumi up` <= 30 s (checkpoints skipped)",
        f"{_vm_up(fast):.1f} s" if fast else "not run",
        _vm_up(fast) <= 30 if fast else None,
    )
    split = _find(results, 1000, "split", True, "program")
    row(
        "checkpoints kept: a vms stack of 200 VMs, `pulumi up` <= 30 s",
        f"slowest {split.slowest_vms_stack_up():.1f} s" if split else "not run",
        split.slowest_vms_stack_up() <= 30 if split else None,
    )
    row(
        "checkpoints kept: 1,000 VMs in five vms stacks <= 150 s in total",
        f"{_vm_up(split):.1f} s (+ platform {split.total('up', 'platform'):.1f} s)" if split else "not run",
        _vm_up(split) <= 150 if split else None,
    )
    hundred = _find(results, 100, "one", False, "program")
    if fast and hundred:
        growth = (_vm_up(fast) / 1000) / (_vm_up(hundred) / 100)
        row("per-VM `up` time at N=1000 <= 1.2x N=100 (checkpoints skipped)", f"{growth:.2f}x", growth <= 1.2)
    for vms in (1000, 300):
        program, floor = _find(results, vms, "one", False, "program"), _find(results, vms, "one", False, "floor")
        if program and floor:
            ratio = _vm_up(program) / _vm_up(floor)
            row(f"program / floor under the engine <= 1.10 (`up`, N={vms}, one stack, checkpoints skipped)", f"{ratio:.2f}", ratio <= 1.10)
            break
    return rows


def pulumi_versions() -> str:
    from tests.e2e.tools import pinned_versions

    pinned = pinned_versions()
    return f"pulumi CLI {pinned.get('PULUMI_VERSION', '?')}, kubernetes provider {pinned.get('PY_PULUMI_KUBERNETES_VERSION', '?')}"


def load_results(path: Path) -> list[CellResult]:
    """The cells a partial-results file holds (``kind-layout-N-ck|nock`` labels)."""
    results = []
    for entry in json.loads(path.read_text()):
        kind, layout, vms, checkpoints = entry["cell"].split("-")
        cell = Cell(int(vms), layout, checkpoints == "ck", kind)
        results.append(CellResult(cell, [Step(**step) for step in entry["steps"]]))
    return results
